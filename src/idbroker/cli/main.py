"""`idbroker init | serve | demo | clients | connections`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import click

from idbroker.bootstrap import initialise
from idbroker.cli.users import users as user_commands
from idbroker.cli.vault import vault as vault_commands
from idbroker.errors import IdbrokerError
from idbroker.management import clients as client_resource
from idbroker.management import connections as connection_resource
from idbroker.runtime import Runtime
from idbroker.settings import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc


def _refuse_unsafe(settings: Settings, *, vault_key_required: bool = True) -> None:
    problems = settings.production_problems(vault_key_required=vault_key_required)
    if problems:
        raise click.ClickException("refusing to start in production mode:\n  - " +
                                   "\n  - ".join(problems))


def _print_init(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    if result["status"] == "unchanged":
        click.echo("idbroker is already initialised; nothing was changed.")
    else:
        click.echo("Created: " + ", ".join(result["created"]))
    click.echo(f"issuer:        {result['issuer']}")
    click.echo(f"audience:      {result['audience']}")
    click.echo(f"client_id:     {result['client_id']}")
    if "client_secret" in result:
        click.echo(f"client_secret: {result['client_secret']}")
        click.echo("The secret is shown only now; it is stored as a keyed hash.")


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Migration chatter is noise for an operator; warnings still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)


@click.group()
def main() -> None:
    """idbroker: identity broker and vault for identity-provider tokens."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def init(as_json: bool) -> None:
    """Create the data directory, database, keys and a bootstrap Management API client."""
    settings = _settings()
    _refuse_unsafe(settings, vault_key_required=False)
    _configure_logging(settings)
    result = asyncio.run(initialise(settings))
    _print_init(result.as_dict(), as_json)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--with-worker", is_flag=True,
              help="Also run the background jobs (as `idbroker worker`) in this process; "
                   "same as IDBROKER_WORKER_IN_SERVE=true.")
def serve(host: str, port: int, workers: int, with_worker: bool) -> None:
    """Apply migrations and serve the broker."""
    import uvicorn

    from idbroker.cli.forking import fork_workers
    from idbroker.lifecycle.worker import WorkerThread

    settings = _settings()
    _refuse_unsafe(settings)
    _configure_logging(settings)
    result = asyncio.run(initialise(settings)).as_dict()
    if result["status"] == "created":
        _print_init(result, as_json=False)
    # One worker for the whole command, whatever --workers is (docs/token-refresh.md).
    background = WorkerThread(settings) if with_worker or settings.worker_in_serve else None
    if background is not None:
        background.start()
    elif workers > 1:
        fork_workers()  # start-up in a fraction of the time (cli/forking.py)
    try:
        # ws="none": no route speaks WebSocket, and importing the websockets library was
        # ~30-80 ms of every worker's start.
        uvicorn.run("idbroker.http.app:create_app_from_env", factory=True, host=host,
                    port=port, workers=workers, access_log=False, ws="none",
                    log_level=settings.log_level.lower(), proxy_headers=False)
    finally:
        if background is not None:
            background.stop()


@main.command()
def worker() -> None:
    """Run the background jobs (token refresh ahead, revocations, webhooks) until stopped."""
    from idbroker.lifecycle.worker import worker_process

    settings = _settings()
    _refuse_unsafe(settings)
    _configure_logging(settings)
    asyncio.run(worker_process(settings))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
def demo(host: str) -> None:
    """Run idbroker with a demo upstream OpenID provider and a sample app."""
    from idbroker.cli.demo import run_demo

    run_demo(host)


def _with_runtime(action: Callable[[Runtime], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        rt = await Runtime.start(_settings())
        try:
            return await action(rt)
        finally:
            await rt.close()
    try:
        return asyncio.run(run())
    except IdbrokerError as exc:
        raise click.ClickException(exc.description) from exc


@main.group()
def clients() -> None:
    """Applications (the same code as /api/v2/clients)."""


@clients.command("list")
def clients_list() -> None:
    click.echo(json.dumps(_with_runtime(lambda rt: client_resource.list_all(rt.store)), indent=2))


@clients.command("create")
@click.argument("body", type=click.File("r"), default="-")
def clients_create(body: Any) -> None:
    """Create a client from a JSON body (as POST /api/v2/clients), read from a file or stdin."""
    data = json.load(body)
    click.echo(json.dumps(_with_runtime(lambda rt: client_resource.create(rt.store, data)), indent=2))


main.add_command(vault_commands)
main.add_command(user_commands)


@main.group()
def connections() -> None:
    """Upstream identity providers (the same code as /api/v2/connections)."""


@connections.command("list")
def connections_list() -> None:
    click.echo(json.dumps(_with_runtime(
        lambda rt: connection_resource.list_all(rt.store, strategy=None, name=None)), indent=2))


@connections.command("create")
@click.argument("body", type=click.File("r"), default="-")
def connections_create(body: Any) -> None:
    """Create a connection from a JSON body (as POST /api/v2/connections)."""
    data = json.load(body)
    click.echo(json.dumps(_with_runtime(
        lambda rt: connection_resource.create(rt.store, rt.policy, data)), indent=2))
