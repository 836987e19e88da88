"""A small asyncpg pool of its own for the statements on the request hot paths on PostgreSQL:
the one-statement user, client and client-grant reads (vault/hot_reads.py) and the audit group
commit (vault/audit_writer.py). Everything else keeps using SQLAlchemy's pool.

Why not SQLAlchemy's pool: each checkout there crosses the greenlet bridge and pings the server
(``pool_pre_ping``, a round trip), and its overflow connections are closed on return, so under
load reads kept opening PostgreSQL connections. asyncpg's pool queues callers when every
connection is busy (never opens more than ``max_size``), and each connection keeps its prepared
statements. Nothing here keeps session state (no SET, LISTEN, advisory lock, cursor or open
transaction), so a connection goes back to the pool without asyncpg's reset query — another
round trip per statement otherwise; an open transaction would still be rolled back by asyncpg.

Failures: a connection whose backend went away (PostgreSQL restarted, ``pg_terminate_backend``,
a failover) is dropped by asyncpg and replaced on the next acquire. ``fetch`` and ``execute``
retry once on such a connection failure, so only statements that are safe to repeat may be sent
through them (reads, and inserts that ignore a row already there).

One pool per process and event loop: it is created by ``Runtime.start`` in the loop that
serves, after uvicorn forked its workers, so no connection is shared between processes. Used
from another event loop it reports itself unusable, and callers take the SQLAlchemy path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

# The backend of this connection is gone (or the server is not accepting connections yet):
# a fresh connection may well succeed.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,        # class 08, ConnectionDoesNotExistError
    asyncpg.exceptions.AdminShutdownError,  # 57P01: pg_terminate_backend, fast shutdown
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up, in recovery
    ConnectionError,
)
# A connection in a state no statement can be sent in (its backend died mid-protocol).
_BROKEN = (*CONNECTION_LOST, asyncpg.exceptions.InternalClientError)


def is_asyncpg(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"


def connect_kwargs(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg.connect's arguments for the engine's URL, as SQLAlchemy's dialect derives them
    (host, port, database, user, password, ``ssl`` and the other query options)."""
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    kwargs = dict(kwargs)
    # SQLAlchemy's name for asyncpg's statement cache (0 behind PgBouncer in transaction mode).
    if "prepared_statement_cache_size" in kwargs:
        kwargs["statement_cache_size"] = int(kwargs.pop("prepared_statement_cache_size"))
    kwargs.pop("prepared_statement_name_func", None)
    kwargs.pop("async_creator_fn", None)
    server_settings = dict(kwargs.get("server_settings") or {})
    server_settings.setdefault("application_name", "idbroker")
    kwargs["server_settings"] = server_settings
    return kwargs


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """The pool's per-release reset: nothing to reset (see the module docstring)."""


class PgPool:
    def __init__(self, engine: AsyncEngine, *, max_size: int, min_size: int = 1) -> None:
        self._kwargs = connect_kwargs(engine)
        self.max_size = max_size
        self.min_size = min(min_size, max_size)
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    async def open(self) -> None:
        """Create the pool in the running event loop (``min_size`` connections at once)."""
        if self._pool is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._pool = await asyncpg.create_pool(
            min_size=self.min_size, max_size=self.max_size, reset=_keep_session,
            **self._kwargs)

    @property
    def usable(self) -> bool:
        """Open, not closing, and serving the running event loop."""
        if self._pool is None or self._closing:
            return False
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._send("fetch", sql, args)
        return rows

    async def execute(self, sql: str, args: Sequence[Any]) -> str:
        """One statement in a transaction of its own (PostgreSQL commits it on success)."""
        status: str = await self._send("execute", sql, args)
        return status

    async def _send(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        pool = self._pool
        assert pool is not None
        for attempt in (1, 2):
            connection = await pool.acquire()
            try:
                return await getattr(connection, method)(sql, *args)
            except _BROKEN:
                # The backend's FATAL message (pg_terminate_backend) arrives before its socket
                # closes: until then the connection looks open, and without a reset query
                # (_keep_session) the pool would hand it to the next caller, stuck waiting for
                # a ReadyForQuery that never comes. Terminated, it is replaced on acquire.
                try:
                    connection.terminate()
                except asyncpg.InterfaceError:
                    pass  # its socket closed first: asyncpg has already taken it back
                # A backend that died (restart, failover, pg_terminate_backend) seldom dies
                # alone: every idle connection is replaced on its next acquire, so the one
                # retry below does not land on another dead one.
                await pool.expire_connections()
                if attempt == 2:
                    raise
            finally:
                await pool.release(connection)
        raise AssertionError("unreachable")

    @staticmethod
    def lost(exc: BaseException) -> bool:
        """Whether ``exc`` says the database could not be reached (not a bad statement)."""
        return isinstance(exc, CONNECTION_LOST)

    async def close(self) -> None:
        """Close every connection (waits for the statements in flight). Idempotent."""
        pool, self._pool = self._pool, None
        self._closing = True
        if pool is None:
            return
        if asyncio.get_running_loop() is self._loop:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
                return
            except (TimeoutError, asyncio.TimeoutError):
                pass
        pool.terminate()
