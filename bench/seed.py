"""Seeding straight through the store (no HTTP): the schema, the clients the scenarios use, a
connection to the fake upstream, and N users each with one identity holding sealed tokens."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from idbroker.bootstrap import initialise
from idbroker.management import client_grants, clients, connections
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault import schema as t
from idbroker.vault.records import TokenSet
from idbroker.vault.store import Store, identity_aad

CONNECTION = "bench-idp"
APP_CALLBACK = "http://127.0.0.1:9/callback"  # never followed: the login driver stops at it
BATCH = 2_000


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
        user_ids = await insert_users(rt.store, found.id, users)
        return Seeded((app["client_id"], app["client_secret"]), reader, user_ids, found.id)
    finally:
        await rt.close()


def _rows(store: Store, connection_id: str, start: int, count: int,
          stamp: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    users, identities = [], []
    expires = int(time.time()) + 30 * 86_400  # fresh for the whole run: no refresh on read
    for n in range(start, start + count):
        sub = f"{n:08d}"
        user_id = f"oidc|{CONNECTION}|{sub}"
        identity_id = f"idn_bench{n:010d}"
        tokens = TokenSet(access_token="ya29." + secrets.token_urlsafe(96),
                          refresh_token="1//" + secrets.token_urlsafe(48), token_type="Bearer",
                          expires_at=expires, scope=["openid", "profile", "email"])
        users.append(dict(
            user_id=user_id, email=f"user{sub}@bench.example", email_verified=True,
            username=None, name=f"Bench User {sub}", given_name="Bench", family_name=sub,
            nickname=f"user{sub}", picture=None, extra={}, app_metadata={}, user_metadata={},
            blocked=False, created_at=stamp, updated_at=stamp, last_login=stamp,
            last_ip="127.0.0.1", logins_count=1))
        identities.append(dict(
            id=identity_id, user_id=user_id, connection_id=connection_id, connection=CONNECTION,
            provider="oidc", issuer="http://bench-upstream.invalid", subject=sub,
            idp_user_id=f"{CONNECTION}|{sub}", is_social=False,
            profile_data={"email": f"user{sub}@bench.example"},
            tokens_sealed=store.vault.seal(tokens.to_json(), identity_aad(identity_id)),
            token_expires_at=expires * 1000, granted_scopes=tokens.scope,
            token_status="active", created_at=stamp, updated_at=stamp))
    return users, identities


async def insert_users(store: Store, connection_id: str, count: int) -> list[str]:
    stamp = int(time.time() * 1000)
    ids: list[str] = []
    for start in range(0, count, BATCH):
        users, identities = _rows(store, connection_id, start, min(BATCH, count - start), stamp)
        async with store.engine.begin() as conn:
            await conn.execute(t.users.insert(), users)
            await conn.execute(t.identities.insert(), identities)
        ids.extend(u["user_id"] for u in users)
    return ids


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
