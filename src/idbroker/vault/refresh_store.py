"""The SQL of token refresh: the per-identity single-flight lock and the writes that end a
refresh (lifecycle/refresh.py decides; this module only reads, locks and writes).

Two locking schemes, one per engine, both held by exactly one refresher per identity:

- PostgreSQL: ``SELECT … FOR UPDATE`` on the identities row, in the transaction that also
  stores the result. Waiters block in the database and wake when it commits; a crashed holder's
  lock dies with its connection. ``lock_timeout`` bounds the wait.
- SQLite: a lease row (``identity_refresh.lease_owner/lease_until``) claimed by a conditional
  UPDATE in a short write transaction. SQLite has one write lock for the whole database, so
  holding ``BEGIN IMMEDIATE`` across an upstream call would stall every other writer (every
  login, every audit record) for as long as the slowest upstream takes; the lease serialises
  refreshers of one identity only. A crashed holder's lease expires after its TTL. The final
  write is fenced: it only lands while the lease is still ours, so a login that replaced the
  tokens meanwhile (it deletes the lease row) is never overwritten by an older grant.

Every SQLite transaction here begins with a write, so it takes the write lock up front and never
has to upgrade a read snapshot (which WAL answers with SQLITE_BUSY, without waiting).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from idbroker.clock import now_ms
from idbroker.vault import schema as t
from idbroker.vault.records import Identity, TokenSet
from idbroker.vault.store import Store

_LOCK_NOT_AVAILABLE = "55P03"


class LockBusy(Exception):
    """The identity's refresh lock was not obtained within the wait."""


class IdentityGone(Exception):
    """The identity was deleted (unlinked) before the refresh could claim it."""


@dataclass(frozen=True, slots=True)
class RefreshState:
    lease_owner: str | None = None
    lease_until: int | None = None
    not_before: int | None = None
    failing_since: int | None = None
    attempts: int = 0
    refreshed_at: int | None = None


@dataclass(frozen=True, slots=True)
class Locked:
    conn: AsyncConnection
    identity: Identity | None
    state: RefreshState


def uses_row_locks(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


async def get_identity(store: Store, identity_id: str) -> Identity | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.identities).where(
            t.identities.c.id == identity_id))).first()
    return Identity(**row._mapping) if row else None


async def get_state(store: Store, identity_id: str) -> RefreshState:
    async with store.engine.connect() as conn:
        return await _state(conn, identity_id)


async def get_identity_and_state(store: Store,
                                 identity_id: str) -> tuple[Identity | None, RefreshState]:
    """Both in one connection checkout (a waiter's poll): the state first, so a lease seen
    free was released no earlier than the identity row read after it."""
    async with store.engine.connect() as conn:
        state = await _state(conn, identity_id)
        row = (await conn.execute(sa.select(t.identities).where(
            t.identities.c.id == identity_id))).first()
    return (Identity(**row._mapping) if row else None), state


def lease_held(state: RefreshState, stamp_ms: int) -> bool:
    return state.lease_owner is not None and (state.lease_until or 0) >= stamp_ms


async def _state(conn: AsyncConnection, identity_id: str) -> RefreshState:
    row = (await conn.execute(sa.select(t.identity_refresh).where(
        t.identity_refresh.c.identity_id == identity_id))).first()
    if row is None:
        return RefreshState()
    data = dict(row._mapping)
    data.pop("identity_id")
    return RefreshState(**data)


def _insert(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        # Imported here: the PostgreSQL dialect costs a quarter second of every start-up.
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert
    return sqlite_insert


async def _ensure_state_row(conn: AsyncConnection, identity_id: str) -> None:
    stmt = _insert(conn)(t.identity_refresh).values(identity_id=identity_id, attempts=0)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["identity_id"]))


# --- PostgreSQL: the row lock ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def locked(store: Store, identity_id: str, *, wait_s: float) -> AsyncIterator[Locked]:
    """A transaction holding the identity row FOR UPDATE; it commits when the block ends."""
    try:
        async with store.engine.begin() as conn:
            # A bounded wait: a refresher stuck behind a slow upstream never holds others
            # beyond this (they re-read instead, see lifecycle/refresh.py).
            wait_ms = max(1, int(wait_s * 1000))
            await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{wait_ms}ms'"))
            row = (await conn.execute(sa.select(t.identities).where(
                t.identities.c.id == identity_id).with_for_update())).first()
            await conn.execute(sa.text("SET LOCAL lock_timeout = 0"))
            if row is not None:
                await _ensure_state_row(conn, identity_id)
            state = await _state(conn, identity_id)
            yield Locked(conn, Identity(**row._mapping) if row else None, state)
    except DBAPIError as exc:
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code == _LOCK_NOT_AVAILABLE:
            raise LockBusy() from exc
        raise


# --- SQLite: the lease -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease claim and, read in its transaction, the identity row and refresh state."""

    won: bool
    identity: Identity | None
    state: RefreshState


async def claim_lease(store: Store, identity_id: str, owner: str, ttl_ms: int) -> Claim:
    """The lease, unless another refresher holds it or a failure backoff holds refreshes off;
    with the rows as they stand in the same transaction, so the winner needs no second read
    and a loser sees why it lost."""
    stamp = now_ms()
    r = t.identity_refresh
    try:
        async with store.engine.begin() as conn:
            await _ensure_state_row(conn, identity_id)
            won = await conn.execute(r.update().where(
                r.c.identity_id == identity_id,
                sa.or_(r.c.lease_until.is_(None), r.c.lease_until < stamp),
                sa.or_(r.c.not_before.is_(None), r.c.not_before <= stamp),
            ).values(lease_owner=owner, lease_until=stamp + ttl_ms))
            state = await _state(conn, identity_id)
            row = (await conn.execute(sa.select(t.identities).where(
                t.identities.c.id == identity_id))).first()
    except IntegrityError as exc:  # the identity row is gone (foreign key)
        raise IdentityGone() from exc
    return Claim(won.rowcount == 1, Identity(**row._mapping) if row else None, state)


async def release_lease(store: Store, identity_id: str, owner: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(t.identity_refresh.update().where(
            t.identity_refresh.c.identity_id == identity_id,
            t.identity_refresh.c.lease_owner == owner,
        ).values(lease_owner=None, lease_until=None))


# --- the writes that end a refresh (in the caller's transaction) -----------------------------


def _ours(identity_id: str, owner: str | None) -> list[Any]:
    where = [t.identity_refresh.c.identity_id == identity_id]
    if owner is not None:
        where.append(t.identity_refresh.c.lease_owner == owner)
    return where


async def save_refreshed(conn: AsyncConnection, store: Store, identity_id: str,
                         tokens: TokenSet, *, owner: str | None) -> bool:
    """Store the new token set, sealed and bound to the identity row, and clear the failure
    state. False when the lease was lost or the identity is gone: nothing is written."""
    stamp = now_ms()
    fenced = await conn.execute(t.identity_refresh.update().where(
        *_ours(identity_id, owner)).values(lease_owner=None, lease_until=None, not_before=None,
                                           failing_since=None, attempts=0, refreshed_at=stamp))
    if fenced.rowcount != 1:
        return False
    sealed = store._sealed_tokens(identity_id, tokens)
    updated = await conn.execute(t.identities.update().where(
        t.identities.c.id == identity_id).values(updated_at=stamp, **sealed))
    return updated.rowcount == 1


async def save_reauth_required(conn: AsyncConnection, identity_id: str, *,
                               owner: str | None) -> bool:
    """The upstream grant is dead: flag the identity; the sealed tokens stay (an unlink still
    revokes them upstream) but are no longer served."""
    fenced = await conn.execute(t.identity_refresh.update().where(
        *_ours(identity_id, owner)).values(lease_owner=None, lease_until=None, not_before=None,
                                           failing_since=None, attempts=0))
    if fenced.rowcount != 1:
        return False
    updated = await conn.execute(t.identities.update().where(
        t.identities.c.id == identity_id).values(token_status="reauth_required"))
    return updated.rowcount == 1


async def save_transient_failure(conn: AsyncConnection, identity_id: str, *,
                                 owner: str | None, not_before: int) -> bool | None:
    """Hold further upstream calls off until ``not_before``. Returns True when this failure
    starts a new run of failures, False when it continues one, None when the lease was lost."""
    stamp = now_ms()
    row = (await conn.execute(t.identity_refresh.update().where(
            *_ours(identity_id, owner)).values(
        lease_owner=None, lease_until=None, not_before=not_before,
        failing_since=sa.func.coalesce(t.identity_refresh.c.failing_since, stamp),
        attempts=t.identity_refresh.c.attempts + 1,
    ).returning(t.identity_refresh.c.failing_since))).first()
    if row is None:
        return None
    return bool(row.failing_since == stamp)


async def hold_off(store: Store, identity_id: str, until_ms: int) -> None:
    """Keep the refresh-ahead job away from an identity it cannot refresh (no refresh token)."""
    async with store.engine.begin() as conn:
        await _ensure_state_row(conn, identity_id)
        await conn.execute(t.identity_refresh.update().where(
            t.identity_refresh.c.identity_id == identity_id).values(not_before=until_ms))


async def identities_expiring(store: Store, *, before_ms: int, connection_ids: list[str],
                              limit: int) -> list[str]:
    """Active identities of these connections whose access token expires before the bound and
    that are not in a failure backoff: the refresh-ahead job's work list."""
    if not connection_ids:
        return []
    stamp = now_ms()
    r = t.identity_refresh
    query = (sa.select(t.identities.c.id)
             .select_from(t.identities.outerjoin(r, r.c.identity_id == t.identities.c.id))
             .where(t.identities.c.connection_id.in_(connection_ids),
                    t.identities.c.token_status == "active",
                    t.identities.c.token_expires_at.is_not(None),
                    t.identities.c.token_expires_at < before_ms,
                    sa.or_(r.c.not_before.is_(None), r.c.not_before <= stamp))
             .order_by(t.identities.c.token_expires_at).limit(limit))
    async with store.engine.connect() as conn:
        return list((await conn.execute(query)).scalars())
