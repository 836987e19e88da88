"""Account linking in storage: an identity row changes owner, and only its ``user_id`` changes.

The sealed IdP tokens are bound (AEAD associated data) to the identity row's ``id``, which
never changes, so they move with the row without being opened or re-encrypted: never copied,
never lost. Each function runs in the caller's transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from idbroker.clock import now_ms
from idbroker.vault import schema as t
from idbroker.vault.records import Identity
from idbroker.vault.user_writes import user_exists_error


async def find_identities(conn: AsyncConnection, provider: str, idp_user_ids: list[str],
                          connection_id: str | None) -> list[Identity]:
    query = sa.select(t.identities).where(t.identities.c.provider == provider,
                                          t.identities.c.idp_user_id.in_(idp_user_ids))
    if connection_id is not None:
        query = query.where(t.identities.c.connection_id == connection_id)
    rows = await conn.execute(query.order_by(t.identities.c.id))
    return [Identity(**row._mapping) for row in rows]


async def identity_count(conn: AsyncConnection, user_id: str) -> int:
    return (await conn.execute(sa.select(sa.func.count()).select_from(t.identities).where(
        t.identities.c.user_id == user_id))).scalar_one()


async def move_identity(conn: AsyncConnection, identity_id: str, to_user: str) -> None:
    """Give the identity to ``to_user``, after the identities it already has: a user's
    identities are listed by when they joined it, so its own (primary) identity stays first."""
    latest = (await conn.execute(sa.select(sa.func.max(t.identities.c.created_at)).where(
        t.identities.c.user_id == to_user))).scalar_one_or_none()
    stamp = now_ms()
    joined = max(stamp, (latest or 0) + 1)
    owner = (await conn.execute(sa.select(t.identities.c.user_id, t.identities.c.connection_id)
                                .where(t.identities.c.id == identity_id))).first()
    await conn.execute(t.identities.update().where(t.identities.c.id == identity_id).values(
        user_id=to_user, created_at=joined, updated_at=stamp))
    if owner is not None:
        # A database account's password goes with its identity (dbconn/), so signing in with
        # it reaches the user the identity now belongs to.
        await conn.execute(t.password_credentials.update().where(
            t.password_credentials.c.user_id == owner.user_id,
            t.password_credentials.c.connection_id == owner.connection_id).values(
            user_id=to_user, updated_at=stamp))


async def create_standalone_user(conn: AsyncConnection, identity: Identity) -> str:
    """Re-create an unlinked identity's own user, from its profile and with no metadata."""
    user_id = f"{identity.provider}|{identity.idp_user_id}"
    profile = identity.profile_data
    stamp = now_ms()

    def text(name: str) -> str | None:
        value = profile.get(name)
        return value if isinstance(value, str) else None

    email = text("email")
    try:
        await conn.execute(t.users.insert().values(
            user_id=user_id, email=email.lower() if email else None,
            email_verified=profile.get("email_verified") is True, username=text("username"),
            name=text("name"), given_name=text("given_name"), family_name=text("family_name"),
            nickname=text("nickname"), picture=text("picture"), extra={}, app_metadata={},
            user_metadata={}, blocked=False, created_at=stamp, updated_at=stamp,
            last_login=None, last_ip=None, logins_count=0))
    except IntegrityError as exc:  # a user with that id exists (created meanwhile)
        raise user_exists_error() from exc
    return user_id
