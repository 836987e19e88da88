"""Seeding every kind of sealed value, and reading them all back, for the rotation tests."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner, Result

from idbroker.cli.main import main
from idbroker.lifecycle.outbox import enqueue_revocation
from idbroker.settings import Settings
from idbroker.vault import event_store, rotation
from idbroker.vault.crypto import Vault, sealed_key_id
from idbroker.vault.keyfile import load_vault_keys
from idbroker.vault.records import Identity, TokenSet, UpstreamProfile
from idbroker.vault.store import Store
from tests.support import Broker

Snapshot = dict[str, dict[Any, bytes]]


async def seed(broker: Broker, identities: int) -> dict[str, str]:
    """One row or more in every sealed column; returns {user_id: canary access token}."""
    store = broker.runtime.store
    await broker.oidc_connection([])
    connection = await store.get_connection_by_name("acme-oidc")
    assert connection is not None
    canaries: dict[str, str] = {}
    for n in range(identities):
        token = f"canary-at-{n}-{secrets.token_hex(8)}"
        user_id = await store.record_login(
            connection=connection, provider="oidc", issuer=broker.upstream.issuer,
            subject=f"subject-{n}", idp_user_id=f"acme-oidc|subject-{n}", is_social=False,
            profile=UpstreamProfile(email=f"u{n}@example.test"),
            tokens=TokenSet(access_token=token, refresh_token=f"canary-rt-{n}",
                            expires_at=4_000_000_000, scope=["openid"]), ip="127.0.0.1")
        canaries[user_id] = token
    await store.put_transaction("pending-login-state", {"client_id": "x", "binding": "b"},
                                ttl_s=600)
    user = await store.get_user(next(iter(canaries)))
    assert user is not None
    async with store.engine.begin() as conn:
        await enqueue_revocation(conn, store.vault, user.identities[0], "test")
    await event_store.create_endpoint(store, url="https://hooks.example.test/", events=[
        "user.deleted"], enabled=True, secret="whsec_canary")
    return canaries


async def snapshot(store: Store) -> Snapshot:
    """Every sealed value of the database, opened (so a value that does not open fails)."""
    result: Snapshot = {}
    async with store.engine.connect() as conn:
        for col in rotation.SEALED_COLUMNS:
            rows = await conn.execute(sa.select(col.table.c[col.key], col.table.c[col.column])
                                      .where(col.table.c[col.column].is_not(None)))
            result[col.label] = {key: store.vault.open(bytes(blob), col.aad(key))
                                 for key, blob in rows}
    return result


async def key_ids(store: Store) -> dict[str, int]:
    """How many sealed values each key id seals."""
    counts: dict[str, int] = {}
    async with store.engine.connect() as conn:
        for col in rotation.SEALED_COLUMNS:
            for (blob,) in await conn.execute(sa.select(col.table.c[col.column]).where(
                    col.table.c[col.column].is_not(None))):
                kid = sealed_key_id(bytes(blob)) or "?"
                counts[kid] = counts.get(kid, 0) + 1
    return counts


def fresh_store(store: Store, settings: Settings) -> Store:
    """A store that knows only what the key file says now (as a restarted process would)."""
    return Store(store.engine, Vault(load_vault_keys(settings)))


def identity_key_id(identity: Identity) -> str | None:
    return sealed_key_id(identity.tokens_sealed) if identity.tokens_sealed else None


def vault_cli(settings: Settings, *args: str, env: dict[str, str] | None = None,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`idbroker vault ...` in its own process, configured only by its environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IDBROKER_")}
    base["IDBROKER_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        base["IDBROKER_DATABASE_URL"] = settings.database_url
    return subprocess.run([sys.executable, "-m", "idbroker", "vault", *args],
                          env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=120, input=stdin)


async def vault_cmd(settings: Settings, *args: str, env: dict[str, str] | None = None,
                    stdin: str | None = None) -> Result:
    """`idbroker vault ...` in this process (faster; for the runs that are not killed). The
    command runs its own event loop, so it runs in a thread of its own."""
    values = {"IDBROKER_DATA_DIR": str(settings.data_dir),
              "IDBROKER_DATABASE_URL": settings.database_url, "IDBROKER_VAULT_KEY": None,
              **(env or {})}
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, ["vault", *args], env=values,
                                   input=stdin)
