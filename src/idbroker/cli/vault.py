"""`idbroker vault status | rotate-key | retire-key` (docs/vault-keys.md)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from idbroker.errors import IdbrokerError
from idbroker.settings import Settings
from idbroker.vault import keyring_file, rotation
from idbroker.vault.crypto import Vault, key_id_for
from idbroker.vault.db import create_engine, migrate
from idbroker.vault.keyfile import load_vault_keys
from idbroker.vault.store import Store


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc


def _run(settings: Settings, action: Callable[[Store], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.sqlalchemy_url)
        try:
            await migrate(engine)
            return await action(Store(engine, Vault(load_vault_keys(settings))))
        finally:
            await engine.dispose()
    try:
        return asyncio.run(run())
    except IdbrokerError as exc:
        raise click.ClickException(exc.description) from exc


def _ring_value(keys: list[bytes]) -> str:
    return ",".join(keyring_file.encode_key(k) for k in keys)


def _parse_new_key(value: str | None) -> bytes | None:
    if value is None:
        return None
    if value == "-":
        value = sys.stdin.readline()
    try:
        return keyring_file.decode_key(value, "--new-key")
    except IdbrokerError as exc:
        raise click.BadParameter(exc.description, param_hint="--new-key") from exc


def _describe(usage: dict[str, int]) -> str:
    return ", ".join(f"{n} in {label}" for label, n in sorted(usage.items()))


@click.group()
def vault() -> None:
    """Vault keys: status, rotation and retirement (see docs/vault-keys.md)."""


@vault.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def status(as_json: bool) -> None:
    """Show the key ring and what each key still seals or verifies."""
    settings = _settings()

    async def action(store: Store) -> dict[str, Any]:
        usage = await rotation.key_usage(store)
        ring = store.vault.key_ids
        keys = [{"key_id": kid, "role": "sealing" if n == 0 else "opening",
                 "sealed": rotation.sealed_total(usage.get(kid, {})),
                 "digests": rotation.digest_total(usage.get(kid, {})),
                 "usage": usage.get(kid, {})} for n, kid in enumerate(ring)]
        unknown = {kid: u for kid, u in usage.items() if kid not in ring}
        return {"source": "IDBROKER_VAULT_KEY" if settings.vault_key is not None
                else str(settings.resolved_vault_key_file),
                "keys": keys, "unknown_keys": unknown,
                "pending": sum(k["sealed"] for k in keys[1:])}

    result = _run(settings, action)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"key ring from {result['source']}:")
    for key in result["keys"]:
        click.echo(f"  {key['key_id']}  {key['role']:8}  {key['sealed']} sealed values, "
                   f"{key['digests']} live digests")
    for kid, usage in result["unknown_keys"].items():
        click.echo(f"  {kid}  NOT IN THE RING: {_describe(usage)} cannot be opened")
    if result["pending"]:
        click.echo(f"{result['pending']} sealed values are not yet under the sealing key: "
                   "run `idbroker vault rotate-key` to finish the rotation.")


@vault.command("rotate-key")
@click.option("--new-key", metavar="KEY",
              help="Introduce this base64url 32-byte key instead of a generated one "
                   "('-' reads it from stdin).")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--fault-kill-after", type=int, hidden=True,
              help="Testing only: SIGKILL the process after this many row updates.")
def rotate_key(new_key: str | None, batch_size: int, fault_kill_after: int | None) -> None:
    """Introduce a new vault key and re-seal every stored secret under it.

    Resumable: when a previous run was interrupted (values remain under an older key of the
    ring), running it again finishes that rotation instead of adding yet another key."""
    settings = _settings()
    key = _parse_new_key(new_key)
    from_env = settings.vault_key is not None

    async def action(store: Store) -> None:
        todo = await rotation.pending(store)
        if key is not None or todo == 0:
            fresh = key or os.urandom(32)
            if from_env:
                _print_env_ring(fresh, load_vault_keys(settings))
                return
            path = settings.resolved_vault_key_file
            ring = keyring_file.prepend_key(path, fresh)
            store.vault.reload(force=True)
            click.echo(f"Added vault key {key_id_for(fresh)} to {path} (ring of {len(ring)}).")
        else:
            click.echo(f"Resuming: {todo} sealed values are not yet under vault key "
                       f"{store.vault.current_key_id}.")
        fault = rotation.FaultInjector(fault_kill_after) if fault_kill_after is not None else None
        total = await rotation.pending(store)
        with click.progressbar(length=total, label="Re-sealing", file=sys.stderr) as bar:
            report = await rotation.rotate(store, batch_size=batch_size, progress=bar.update,
                                           fault=fault)
        click.echo(f"Re-sealed {report.resealed} values under vault key {report.target_key_id}"
                   f" ({report.conflicts} changed concurrently and were left as written).")
        if report.unreadable:
            click.echo(f"{len(report.unreadable)} values do not open under any key of the ring "
                       "and were left unchanged: " + ", ".join(report.unreadable[:20]), err=True)
        if report.remaining:
            click.echo(f"{report.remaining} values are still under an older key (written by "
                       "a process holding the old ring); run rotate-key again.")
        click.echo("Older keys stay in the ring until `idbroker vault retire-key` removes them.")

    _run(settings, action)


def _print_env_ring(fresh: bytes, ring: list[bytes]) -> None:
    value = _ring_value([fresh] + [k for k in ring if k != fresh])
    click.echo(f"The key ring comes from IDBROKER_VAULT_KEY, which this command cannot change.\n"
               f"New vault key {key_id_for(fresh)}. Deploy this value to EVERY idbroker process "
               "and restart them, then run `idbroker vault rotate-key` again (with it set) to "
               "re-seal the stored values:\n")
    click.echo(f"IDBROKER_VAULT_KEY={value}")


@vault.command("retire-key")
@click.argument("key_id")
def retire_key(key_id: str) -> None:
    """Remove an old key from the ring, only when nothing still depends on it."""
    settings = _settings()
    from_env = settings.vault_key is not None

    async def action(store: Store) -> None:
        ring = store.vault.key_ids
        if key_id not in ring:
            raise click.ClickException(f"vault key {key_id} is not in the ring ({', '.join(ring)})")
        if key_id == ring[0]:
            raise click.ClickException(
                f"vault key {key_id} is the sealing key; rotate to a new key first")
        usage = (await rotation.key_usage(store)).get(key_id, {})
        sealed, digests = rotation.sealed_total(usage), rotation.digest_total(usage)
        if sealed or digests:
            hint = []
            if sealed:
                hint.append("run `idbroker vault rotate-key` to re-seal the values")
            if digests - usage.get("clients.secret_digest", 0):
                hint.append("wait for codes, login states and refresh tokens to expire")
            if usage.get("clients.secret_digest"):
                clients = await rotation.clients_on_key(store, key_id)
                hint.append("rotate the secrets of clients " + ", ".join(clients))
            raise click.ClickException(
                f"refusing to retire vault key {key_id}: {sealed} sealed values and {digests} "
                f"live digests still depend on it ({_describe(usage)}); " + "; ".join(hint))
        keys = [k for k in load_vault_keys(settings) if key_id_for(k) != key_id]
        if from_env:
            click.echo(f"Nothing depends on vault key {key_id}. Deploy this value to every "
                       "idbroker process and restart them:\n")
            click.echo(f"IDBROKER_VAULT_KEY={_ring_value(keys)}")
            return
        keyring_file.remove_key(settings.resolved_vault_key_file, key_id)
        click.echo(f"Retired vault key {key_id}; the ring now holds {len(keys)} key(s).")

    _run(settings, action)
