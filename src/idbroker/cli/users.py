"""`idbroker users import FILE --connection NAME` and `idbroker users export [FILE]`
(docs/users-import-export.md)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import IO, Any

import click

from idbroker.errors import IdbrokerError
from idbroker.settings import Settings

# The import machinery is loaded by the commands themselves: `idbroker serve` imports this
# module too, and its start-up should not pay for it.
DEFAULT_BATCH = 5_000


def _run(action: Callable[[Any], Awaitable[Any]]) -> Any:
    from idbroker.runtime import Runtime

    try:
        settings = Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc

    async def run() -> Any:
        rt = await Runtime.start(settings)
        try:
            return await action(rt)
        finally:
            await rt.close()
    try:
        return asyncio.run(run())
    except IdbrokerError as exc:
        raise click.ClickException(exc.description) from exc


def _progress(stack: ExitStack, length: int | None, label: str) -> Callable[[int], None] | None:
    """A bar on stderr when stderr is a terminal; nothing otherwise (logs, pipes, CI)."""
    if not sys.stderr.isatty():
        return None
    bar = stack.enter_context(click.progressbar(length=length, label=label, file=sys.stderr,
                                                show_pos=length is None))
    done = 0

    def update(position: int) -> None:
        nonlocal done
        if length is None:
            bar.update(position)
            return
        step = min(position, length) - done
        if step > 0:
            bar.update(step)
            done += step
    return update


@click.group()
def users() -> None:
    """Users in bulk: import from and export to Auth0's formats."""


@users.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--connection", required=True, help="The connection the users belong to.")
@click.option("--upsert", is_flag=True,
              help="Update users that already exist (default: skip them).")
@click.option("--on-error", type=click.Choice(["abort", "continue"]), default="abort",
              show_default=True, help="Stop at the first invalid record, or report it and go on.")
@click.option("--drop-password-hashes", is_flag=True,
              help="Import users that carry a password hash, without the hash.")
@click.option("--batch-size", type=click.IntRange(1, 50_000),
              default=DEFAULT_BATCH, show_default=True,
              help="Users written per transaction.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_(file: str, connection: str, upsert: bool, on_error: str,
            drop_password_hashes: bool, batch_size: int, as_json: bool) -> None:
    """Import users from FILE (a JSON array, or one JSON object per line; '-' for stdin)."""
    from idbroker.management import user_import

    def report_error(error: Any) -> None:
        click.echo(f"error: {error}", err=True)

    with ExitStack() as stack:
        source: IO[str]
        if file == "-":
            source, length = sys.stdin, None
        else:
            try:
                source = stack.enter_context(open(file, encoding="utf-8"))  # noqa: SIM115
            except OSError as exc:
                raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
            length = os.fstat(source.fileno()).st_size
        progress = _progress(stack, length, "importing")
        report = _run(lambda rt: user_import.import_users(
            rt, source, connection=connection, upsert=upsert, on_error=on_error,  # type: ignore[arg-type]
            drop_password_hashes=drop_password_hashes, batch_size=batch_size,
            progress=progress, on_record_error=report_error))
        if progress is not None and length is not None:
            progress(length)
    summary = report.as_dict()
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))
    if report.failed or report.aborted:
        sys.exit(1)


@users.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, writable=True),
                default="-")
@click.option("--format", "fmt", type=click.Choice(["json", "ndjson"]), default="json",
              show_default=True, help="A JSON array (Auth0's import format) or one user a line "
                                      "(Auth0's export format).")
@click.option("--connection", default=None, help="Only users with an identity of this "
                                                 "connection.")
def export(file: str, fmt: str, connection: str | None) -> None:
    """Export users to FILE ('-', the default, for stdout). IdP tokens are never exported."""
    from idbroker.management import user_import
    with ExitStack() as stack:
        out: IO[str] = sys.stdout if file == "-" else stack.enter_context(
            open(file, "w", encoding="utf-8"))  # noqa: SIM115
        progress = _progress(stack, None, "exporting") if file != "-" else None
        count = _run(lambda rt: user_import.export_users(
            rt, out, fmt=fmt, connection=connection, progress=progress))  # type: ignore[arg-type]
    click.echo(f"exported {count} users", err=True)
