"""Seeding straight through the store (no HTTP): the schema, the clients the scenarios use, a
connection to the fake upstream, and N users each with one identity holding sealed tokens."""

from __future__ import annotations

import io
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from idbroker.bootstrap import initialise
from idbroker.management import client_grants, clients, connections
from idbroker.management.user_import import import_users
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault import schema as t
from idbroker.vault.store import Store, identity_aad

CONNECTION = "bench-idp"
APP_CALLBACK = "http://127.0.0.1:9/callback"  # never followed: the login driver stops at it
BATCH = 5_000


@dataclass
class Seeded:
    app_client: tuple[str, str]
    reader: tuple[str, str]
    user_ids: list[str]
    connection_id: str


async def _m2m(rt: Runtime, name: str, scope: list[str]) -> tuple[str, str]:
    made = await clients.create(rt.store, {"name": name, "app_type": "non_interactive"})
    await client_grants.create(rt.store, rt.settings, {
        "client_id": made["client_id"], "audience": rt.settings.management_audience,
        "scope": scope})
    return made["client_id"], made["client_secret"]


async def seed(settings: Settings, *, users: int, upstream_url: str,
               upstream_secret: str) -> Seeded:
    await initialise(settings)
    rt = await Runtime.start(settings)
    try:
        app = await clients.create(rt.store, {
            "name": "bench app", "app_type": "regular_web", "callbacks": [APP_CALLBACK]})
        await connections.create(rt.store, rt.policy, {
            "name": CONNECTION, "strategy": "oidc", "enabled_clients": [app["client_id"]],
            "options": {"discovery_url": f"{upstream_url}/.well-known/openid-configuration",
                        "client_id": "idbroker-bench", "client_secret": upstream_secret,
                        "scope": "openid profile email offline_access"}})
        found = await rt.store.get_connection_by_name(CONNECTION)
        assert found is not None
        reader = await _m2m(rt, "bench reader", ["read:users", "read:user_idp_tokens"])
        user_ids = await insert_users(rt, users)
        return Seeded((app["client_id"], app["client_secret"]), reader, user_ids, found.id)
    finally:
        await rt.close()


async def reuse(settings: Settings, *, users: int) -> Seeded:
    """A store a previous run seeded with ``users`` users: a new reader client for this run."""
    await initialise(settings)
    rt = await Runtime.start(settings)
    try:
        reader = await _m2m(rt, "bench reader", ["read:users", "read:user_idp_tokens"])
        found = await rt.store.get_connection_by_name(CONNECTION)
        assert found is not None, "not a data directory seeded by bench/run.py"
        return Seeded(("", ""), reader, [user_id_of(n) for n in range(users)], found.id)
    finally:
        await rt.close()


class _Generated(io.TextIOBase):
    """An Auth0 bulk-import file produced on the fly (a JSON array of ``count`` users with
    tokens), so a 1,000,000-user seed never exists on disk or in memory at once."""

    def __init__(self, count: int) -> None:
        self.count, self.next, self.buf = count, 0, "["
        self.expires = int(time.time()) + 30 * 86_400  # fresh for the run: no refresh on read
        # Token-shaped values of realistic length; unique per user through the counter.
        self.access, self.refresh = secrets.token_urlsafe(90), secrets.token_urlsafe(42)

    def readable(self) -> bool:
        return True

    def _record(self, n: int) -> str:
        sub = f"{n:08d}"
        return json.dumps({
            "user_id": sub, "email": f"user{sub}@bench.example", "email_verified": True,
            "name": f"Bench User {sub}", "given_name": "Bench", "family_name": sub,
            "nickname": f"user{sub}", "last_ip": "127.0.0.1", "logins_count": 1,
            "identities": [{"connection": CONNECTION,
                            "access_token": f"ya29.{sub}{self.access}",
                            "refresh_token": f"1//{sub}{self.refresh}",
                            "token_type": "Bearer", "expires_at": self.expires,
                            "scope": "openid profile email"}]})

    def read(self, size: int | None = -1) -> str:
        want = size if size is not None and size >= 0 else 1 << 62
        while len(self.buf) < want and self.next <= self.count:
            if self.next == self.count:
                self.buf += "]"
            else:
                self.buf += ("," if self.next else "") + self._record(self.next)
            self.next += 1
        out, self.buf = self.buf[:want], self.buf[want:]
        return out


# Seeded user n is USER_ID_PREFIX + n in 8 digits (bench/lua/read_users.lua builds its paths so).
USER_ID_PREFIX = f"oidc|{CONNECTION}|"


def user_id_of(n: int) -> str:
    return f"{USER_ID_PREFIX}{n:08d}"


async def insert_users(rt: Runtime, count: int) -> list[str]:
    """Seed through `idbroker users import`'s library function: the same validation, sealing
    and batched inserts an operator's import gets."""
    report = await import_users(rt, _Generated(count), connection=CONNECTION,
                                batch_size=BATCH)
    if report.failed or report.inserted + report.skipped != count:
        raise RuntimeError(f"seeding failed: {report.as_dict()} {report.errors[:3]}")
    return [user_id_of(n) for n in range(count)]


async def expire_tokens(store: Store, user_id: str) -> str:
    """Make the user's stored upstream tokens stale (as if an hour had passed); return the
    access token that is now expired."""
    user = await store.get_user(user_id)
    assert user is not None and user.identities
    identity = user.identities[0]
    tokens = store.open_tokens(identity)
    assert tokens is not None and tokens.refresh_token, "the storm user needs a refresh token"
    tokens.expires_at = int(time.time()) - 60
    async with store.engine.begin() as conn:
        await conn.execute(t.identities.update().where(t.identities.c.id == identity.id).values(
            tokens_sealed=store.vault.seal(tokens.to_json(), identity_aad(identity.id)),
            token_expires_at=tokens.expires_at * 1000))
    assert tokens.access_token is not None
    return tokens.access_token


async def reset_postgres(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        await conn.execute(sa.text("CREATE SCHEMA public"))
    await engine.dispose()


async def warm(settings: Settings) -> float:
    """Bring the store into the OS page cache, as a server that has been running has it: a
    reused 1,000,000-user SQLite file (1.3 GB) read cold from this machine's disk cost ~8 ms per
    user read, 300 times the warm read, and measured the disk, not idbroker. Returns seconds."""
    began = time.perf_counter()
    if settings.database_url is None:
        for path in sorted(Path(settings.data_dir).glob("idbroker.db*")):
            with path.open("rb") as f:
                while f.read(1 << 22):
                    pass
    else:
        from sqlalchemy.ext.asyncio import create_async_engine
        engine = create_async_engine(settings.sqlalchemy_url)
        try:
            async with engine.connect() as conn:
                for table in ("users", "identities", "clients", "client_grants"):
                    # Every row, so every page of the table, through the OS cache.
                    await conn.execute(sa.text(f"SELECT sum(octet_length(t::text)) FROM {table} t"))
        finally:
            await engine.dispose()
    return time.perf_counter() - began
