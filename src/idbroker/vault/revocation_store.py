"""SQL for upstream revocation: the outbox rows' life, and clearing an identity's tokens.

A row is claimed by a conditional UPDATE that moves its ``next_attempt_at`` one lease into the
future and counts the attempt, so one worker wins on SQLite and PostgreSQL alike; a worker
that dies mid-attempt leaves the row due again when the lease ends. Every later change is
conditional on (status pending, the claimed attempt number), so a worker whose lease ran out
cannot overwrite the outcome of the one that took over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from idbroker.vault import schema as t
from idbroker.vault.records import Identity
from idbroker.vault.store import Store

PENDING = "pending"
DONE = "done"
GIVEN_UP = "given_up"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: str
    identity_id: str
    user_id: str
    connection_id: str
    connection: str
    tokens_sealed: bytes | None = field(repr=False)  # None once final
    reason: str
    status: str
    attempts: int
    next_attempt_at: int
    last_error: str | None
    created_at: int
    updated_at: int


async def due_ids(store: Store, now: int, limit: int) -> list[str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(t.revocation_outbox.c.id).where(
                t.revocation_outbox.c.status == PENDING,
                t.revocation_outbox.c.next_attempt_at <= now,
            ).order_by(t.revocation_outbox.c.next_attempt_at).limit(limit))
        return list(rows.scalars())


async def claim(store: Store, outbox_id: str, now: int, lease_ms: int) -> OutboxRow | None:
    table = t.revocation_outbox
    async with store.engine.begin() as conn:
        won = await conn.execute(table.update().where(
            table.c.id == outbox_id, table.c.status == PENDING,
            table.c.next_attempt_at <= now,
        ).values(attempts=table.c.attempts + 1, next_attempt_at=now + lease_ms, updated_at=now))
        if won.rowcount != 1:
            return None
        row = (await conn.execute(sa.select(table).where(table.c.id == outbox_id))).first()
    return OutboxRow(**row._mapping) if row else None


async def get(store: Store, outbox_id: str) -> OutboxRow | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.revocation_outbox).where(
            t.revocation_outbox.c.id == outbox_id))).first()
    return OutboxRow(**row._mapping) if row else None


async def close(conn: AsyncConnection, row: OutboxRow, status: str, now: int,
                last_error: str | None) -> bool:
    """Final state; the sealed tokens are purged."""
    table = t.revocation_outbox
    result = await conn.execute(table.update().where(
        table.c.id == row.id, table.c.status == PENDING, table.c.attempts == row.attempts,
    ).values(status=status, tokens_sealed=None, last_error=_clip(last_error), updated_at=now))
    return result.rowcount == 1


async def retry_at(conn: AsyncConnection, row: OutboxRow, when: int, now: int,
                   last_error: str) -> bool:
    table = t.revocation_outbox
    result = await conn.execute(table.update().where(
        table.c.id == row.id, table.c.status == PENDING, table.c.attempts == row.attempts,
    ).values(next_attempt_at=when, last_error=_clip(last_error), updated_at=now))
    return result.rowcount == 1


async def user_exists(conn: AsyncConnection, user_id: str) -> bool:
    found = await conn.execute(sa.select(t.users.c.user_id).where(t.users.c.user_id == user_id))
    return found.first() is not None


async def find_identity(conn: AsyncConnection, user_id: str, provider: str,
                        idp_user_id: str) -> Identity | None:
    row = (await conn.execute(sa.select(t.identities).where(
        t.identities.c.user_id == user_id, t.identities.c.provider == provider,
        t.identities.c.idp_user_id == idp_user_id))).first()
    return Identity(**row._mapping) if row else None


async def clear_tokens(conn: AsyncConnection, identity: Identity, now: int,
                       status: str = "revoked") -> bool:
    """Drop an identity's sealed tokens, if they are still the ones the caller read (a
    concurrent refresh or revocation makes this return False: read again and retry)."""
    table = t.identities
    sealed = table.c.tokens_sealed
    same = sealed.is_(None) if identity.tokens_sealed is None else sealed == identity.tokens_sealed
    result = await conn.execute(table.update().where(table.c.id == identity.id, same).values(
        tokens_sealed=None, token_expires_at=None, granted_scopes=[], token_status=status,
        updated_at=now))
    return result.rowcount == 1


def _clip(text: str | None) -> str | None:
    return text[:200] if text is not None else None
