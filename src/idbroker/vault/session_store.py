"""SQL for broker login sessions and third-party consent (docs/sessions.md).

A session row is found by the keyed digest of the browser's cookie value, never by the
value itself: the database holds nothing a thief could replay as a cookie.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.store import Store

COOKIE_PURPOSE = "session-cookie"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user_id: str
    connection: str
    clients: list[str]
    auth_time: int  # epoch ms
    last_active_at: int
    idle_expires_at: int
    expires_at: int
    created_at: int

    def live_at(self, stamp_ms: int) -> bool:
        return stamp_ms < self.idle_expires_at and stamp_ms < self.expires_at


def _record(row: sa.Row) -> SessionRecord:
    data = dict(row._mapping)
    data.pop("cookie_digest", None)
    return SessionRecord(**data)


async def create(store: Store, cookie: str, *, user_id: str, connection: str, client_id: str,
                 idle_ttl_s: int, absolute_ttl_s: int, replace: str | None = None) -> SessionRecord:
    """A new session for a fresh authentication. ``replace`` is the cookie the browser
    presented before, whose session (if any) ends here: a new sign-in never keeps the old
    cookie value, so a value planted before the login is worthless after it."""
    stamp = now_ms()
    expires_at = stamp + absolute_ttl_s * 1000
    values = dict(
        id=new_id("ses_", 24), cookie_digest=store.vault.digest(COOKIE_PURPOSE, cookie),
        user_id=user_id, connection=connection, clients=[client_id], auth_time=stamp,
        last_active_at=stamp, idle_expires_at=min(stamp + idle_ttl_s * 1000, expires_at),
        expires_at=expires_at, created_at=stamp)
    async with store.writing() as conn:
        # Ended sessions are swept as new ones arrive (at most every SWEEP_EVERY_S per
        # process), so the table stays about the size of the live population; an ended
        # session is refused by its expiry anyway.
        if store._sweep_due("sessions"):
            await conn.execute(t.sessions.delete().where(sa.or_(
                t.sessions.c.idle_expires_at < stamp, t.sessions.c.expires_at < stamp)))
        if replace:
            await conn.execute(t.sessions.delete().where(
                t.sessions.c.cookie_digest.in_(store.vault.digests(COOKIE_PURPOSE, replace))))
        # Values as parameters: cheaper than .values(...) (vault/login_store.py, _UPDATE_IDENTITY).
        await conn.execute(t.sessions.insert(), dict(values))
    values.pop("cookie_digest")
    return SessionRecord(**values)  # type: ignore[arg-type]


async def find(store: Store, cookie: str) -> SessionRecord | None:
    """The live session this cookie names, or None (unknown, idle too long, too old)."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.sessions).where(
            t.sessions.c.cookie_digest.in_(store.vault.digests(COOKIE_PURPOSE, cookie))))).first()
    if row is None:
        return None
    record = _record(row)
    return record if record.live_at(now_ms()) else None


async def touch(store: Store, session: SessionRecord, *, client_id: str,
                idle_ttl_s: int) -> SessionRecord:
    """Record a use: the idle clock restarts (never past the absolute end) and the client
    joins the session's list."""
    stamp = now_ms()
    idle = min(stamp + idle_ttl_s * 1000, session.expires_at)
    clients = session.clients if client_id in session.clients else [*session.clients, client_id]
    async with store.writing() as conn:
        await conn.execute(t.sessions.update().where(t.sessions.c.id == session.id).values(
            last_active_at=stamp, idle_expires_at=idle, clients=clients))
    return SessionRecord(
        id=session.id, user_id=session.user_id, connection=session.connection, clients=clients,
        auth_time=session.auth_time, last_active_at=stamp, idle_expires_at=idle,
        expires_at=session.expires_at, created_at=session.created_at)


async def end(store: Store, cookie: str) -> SessionRecord | None:
    """Delete the session this cookie names; return what it was (None: there was none)."""
    digests = store.vault.digests(COOKIE_PURPOSE, cookie)
    async with store.engine.begin() as conn:
        row = (await conn.execute(sa.select(t.sessions).where(
            t.sessions.c.cookie_digest.in_(digests)))).first()
        if row is None:
            return None
        await conn.execute(t.sessions.delete().where(t.sessions.c.id == row.id))
    return _record(row)


# --- consent (third-party applications) -------------------------------------------------


async def consented_scopes(store: Store, user_id: str, client_id: str) -> set[str] | None:
    async with store.engine.connect() as conn:
        scope = (await conn.execute(sa.select(t.consents.c.scope).where(
            t.consents.c.user_id == user_id,
            t.consents.c.client_id == client_id))).scalar_one_or_none()
    return None if scope is None else set(scope)


async def add_consent(store: Store, user_id: str, client_id: str, scope: list[str]) -> None:
    """Remember the scopes granted, added to any granted before."""
    try:
        await _add_consent_once(store, user_id, client_id, scope)
    except IntegrityError:
        # Two consents of one person for one app raced and the other inserted the row:
        # this one now merges into it.
        await _add_consent_once(store, user_id, client_id, scope)


async def _add_consent_once(store: Store, user_id: str, client_id: str, scope: list[str]) -> None:
    stamp = now_ms()
    async with store.engine.begin() as conn:
        before = (await conn.execute(sa.select(t.consents.c.scope).where(
            t.consents.c.user_id == user_id, t.consents.c.client_id == client_id)
        )).scalar_one_or_none()
        if before is None:
            await conn.execute(t.consents.insert().values(
                user_id=user_id, client_id=client_id, scope=list(dict.fromkeys(scope)),
                created_at=stamp, updated_at=stamp))
        else:
            await conn.execute(t.consents.update().where(
                t.consents.c.user_id == user_id, t.consents.c.client_id == client_id).values(
                scope=list(dict.fromkeys([*before, *scope])), updated_at=stamp))
