"""Broker login sessions: the single sign-on state a browser keeps with idbroker.

A sign-in (any connection, any client) starts a session; later /authorize requests from the
same browser, for any client of the deployment, are answered from it without a login page
or an upstream round trip, as long as it is alive (idle and absolute limits), its user can
still sign in, and the request accepts it (no prompt=login, max_age satisfied, the same
connection). The browser holds a random value in an HttpOnly cookie; the store only its
keyed digest (vault/session_store.py). docs/sessions.md describes it for users.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from idbroker.clock import now_ms
from idbroker.runtime import Runtime
from idbroker.vault import session_store
from idbroker.vault.records import User
from idbroker.vault.session_store import SessionRecord

SESSION_COOKIE = "idb_session"
MAX_COOKIE_CHARS = 128


@dataclass(frozen=True, slots=True)
class SessionCookie:
    """What the HTTP layer must do with the session cookie: set ``value`` for ``max_age``
    seconds, or clear it when ``value`` is empty."""

    value: str
    max_age: int

    @property
    def clears(self) -> bool:
        return not self.value


CLEAR_SESSION = SessionCookie("", 0)


@dataclass(frozen=True, slots=True)
class LiveSession:
    record: SessionRecord
    user: User

    @property
    def auth_time_s(self) -> int:
        return self.record.auth_time // 1000


def presented(cookies: dict[str, str] | None) -> str | None:
    """The session cookie of the request, if it has a plausible shape."""
    value = (cookies or {}).get(SESSION_COOKIE)
    if not value or len(value) > MAX_COOKIE_CHARS:
        return None
    return value


async def start(rt: Runtime, *, user_id: str, connection: str, client_id: str,
                previous: str | None) -> tuple[SessionRecord, SessionCookie]:
    """A fresh authentication: a new session under a new cookie value; the browser's
    previous session (``previous`` cookie) ends."""
    value = secrets.token_urlsafe(32)
    settings = rt.settings
    record = await session_store.create(
        rt.store, value, user_id=user_id, connection=connection, client_id=client_id,
        idle_ttl_s=settings.session_idle_ttl, absolute_ttl_s=settings.session_absolute_ttl,
        replace=previous)
    # The browser may keep the cookie until the absolute end; the idle limit is enforced
    # here, so an idle cookie is worthless however long the browser keeps it.
    return record, SessionCookie(value, settings.session_absolute_ttl)


async def live(rt: Runtime, cookie: str | None) -> LiveSession | None:
    """The browser's session if it is alive and its user may still sign in."""
    if not cookie:
        return None
    record = await session_store.find(rt.store, cookie)
    if record is None:
        return None
    user = await rt.store.get_user(record.user_id)
    if user is None or user.blocked:
        return None
    return LiveSession(record, user)


def satisfies(session: LiveSession, *, connection: str | None, max_age: int | None) -> bool:
    """Whether the request may be answered from this session (OIDC Core §3.1.2.1)."""
    if connection and connection != session.record.connection:
        return False
    if max_age is not None and now_ms() - session.record.auth_time > max_age * 1000:
        return False
    return True


async def use(rt: Runtime, session: LiveSession, client_id: str) -> LiveSession:
    record = await session_store.touch(rt.store, session.record, client_id=client_id,
                                       idle_ttl_s=rt.settings.session_idle_ttl)
    return LiveSession(record, session.user)


async def end(rt: Runtime, cookie: str | None) -> SessionRecord | None:
    return await session_store.end(rt.store, cookie) if cookie else None
