"""Writing users outside a login: created by an administrator, patched, deleted.

Functions that take ``conn`` run inside the caller's transaction, so the caller can write the
revocation and event outboxes (lifecycle/outbox.py) in the same commit. Each such transaction
starts by *writing* the user row (``lock_user``): on PostgreSQL that takes the row lock, on
SQLite the database write lock, so a concurrent PATCH or link waits instead of working from a
stale read.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from idbroker.clock import now_ms
from idbroker.errors import Conflict
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.records import Connection, Identity, User
from idbroker.vault.store import Store

ROOT_COLUMNS = ("email", "email_verified", "username", "name", "given_name", "family_name",
                "nickname", "picture", "blocked")


def user_exists_error() -> Conflict:
    # Auth0's answer to a duplicate create (the upstream-account store said no).
    return Conflict("The user already exists.", error_code="auth0_idp_error")


async def lock_user(conn: AsyncConnection, user_id: str, stamp: int | None = None) -> bool:
    result = await conn.execute(t.users.update().where(t.users.c.user_id == user_id).values(
        updated_at=stamp or now_ms()))
    return bool(result.rowcount)


async def read_user(conn: AsyncConnection, user_id: str) -> User | None:
    row = (await conn.execute(sa.select(t.users).where(t.users.c.user_id == user_id))).first()
    if row is None:
        return None
    rows = await conn.execute(sa.select(t.identities).where(
        t.identities.c.user_id == user_id).order_by(t.identities.c.created_at, t.identities.c.id))
    return User(**row._mapping, identities=[Identity(**r._mapping) for r in rows])


async def create_user(store: Store, *, connection: Connection, provider: str, issuer: str,
                      subject: str, idp_user_id: str, is_social: bool, root: dict[str, Any],
                      extra: dict[str, Any], app_metadata: dict[str, Any],
                      user_metadata: dict[str, Any]) -> str:
    """A user whose one identity holds no tokens yet: the upstream account's first login
    through ``connection`` finds it by (connection, issuer, subject) and fills them in."""
    stamp = now_ms()
    user_id = f"{provider}|{idp_user_id}"
    profile = {k: v for k, v in root.items() if k != "blocked" and v is not None}
    try:
        async with store.engine.begin() as conn:
            await conn.execute(t.users.insert().values(
                user_id=user_id, email=root.get("email"),
                email_verified=bool(root.get("email_verified")), username=root.get("username"),
                name=root.get("name"), given_name=root.get("given_name"),
                family_name=root.get("family_name"), nickname=root.get("nickname"),
                picture=root.get("picture"), extra=extra, app_metadata=app_metadata,
                user_metadata=user_metadata, blocked=bool(root.get("blocked")),
                created_at=stamp, updated_at=stamp, last_login=None, last_ip=None,
                logins_count=0))
            await conn.execute(t.identities.insert().values(
                id=new_id("idn_"), user_id=user_id, connection_id=connection.id,
                connection=connection.name, provider=provider, issuer=issuer, subject=subject,
                idp_user_id=idp_user_id, is_social=is_social, profile_data=profile,
                tokens_sealed=None, token_expires_at=None, granted_scopes=[],
                token_status="none", created_at=stamp, updated_at=stamp))
    except IntegrityError as exc:
        raise user_exists_error() from exc
    return user_id


async def patch_user(store: Store, user_id: str, root: dict[str, Any],
                     app_metadata: dict[str, Any] | None,
                     user_metadata: dict[str, Any] | None) -> bool:
    """Replace root attributes; merge metadata one level deep, a None value deleting its key."""
    try:
        async with store.engine.begin() as conn:
            if not await lock_user(conn, user_id):
                return False
            values: dict[str, Any] = {k: v for k, v in root.items() if k in ROOT_COLUMNS}
            if app_metadata is not None or user_metadata is not None:
                current = (await conn.execute(sa.select(
                    t.users.c.app_metadata, t.users.c.user_metadata).where(
                    t.users.c.user_id == user_id))).one()
                if app_metadata is not None:
                    values["app_metadata"] = merge(current.app_metadata, app_metadata)
                if user_metadata is not None:
                    values["user_metadata"] = merge(current.user_metadata, user_metadata)
            if values:
                await conn.execute(t.users.update().where(
                    t.users.c.user_id == user_id).values(**values))
            if values.get("blocked") is True:
                # A blocked account's login sessions end (ASVS 7.4.2): unblocking it later
                # does not revive them.
                await conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))
    except IntegrityError as exc:
        raise user_exists_error() from exc
    return True


def merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Auth0's metadata merge: one level deep, None deletes a key, {} clears everything."""
    if not changes:
        return {}
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def revoke_user_grants(conn: AsyncConnection, user_id: str) -> None:
    """End every session the broker issued to this user: grants (their access tokens fail at
    /userinfo), refresh tokens and unredeemed authorization codes."""
    await conn.execute(t.grants.update().where(t.grants.c.user_id == user_id).values(
        revoked=True))
    await conn.execute(t.refresh_tokens.update().where(
        t.refresh_tokens.c.user_id == user_id).values(used=True))
    await conn.execute(t.authorization_codes.update().where(
        t.authorization_codes.c.user_id == user_id).values(consumed=True))


async def delete_user_rows(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(t.identities.delete().where(t.identities.c.user_id == user_id))
    await conn.execute(t.users.delete().where(t.users.c.user_id == user_id))
