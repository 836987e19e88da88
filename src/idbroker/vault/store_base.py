"""What every part of :class:`~idbroker.vault.store.Store` shares: the engine, the vault, the
hot-path reads, the audit group commit, and the transaction plumbing (one transaction for the
writes of one request, one worker-thread hop on SQLite, the sweep of expired rows)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from idbroker.vault.audit_writer import AuditWriter
from idbroker.vault.client_cache import ClientCache
from idbroker.vault.crypto import Vault
from idbroker.vault.db import sqlite_thread_engine
from idbroker.vault.hot_reads import HotReads

SWEEP_EVERY_S = 30.0


class _Batch:
    """The writes queued inside :meth:`StoreBase.batch`, committed together at its end."""

    def __init__(self) -> None:
        self.statements: list[tuple[Any, dict[str, Any] | None]] = []

    async def execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> None:
        self.statements.append((statement, parameters))


CURRENT_BATCH: ContextVar[_Batch | None] = ContextVar("idbroker_store_batch", default=None)
_T = TypeVar("_T")


class StoreBase:
    def __init__(self, engine: AsyncEngine, vault: Vault) -> None:
        self.engine = engine
        self.vault = vault
        # The hot-path reads (vault/hot_reads.py) and the audit group commit (audit_writer.py).
        self.reads = HotReads(engine)
        self.audit_writer = AuditWriter(engine)
        self.client_cache = ClientCache()  # vault/client_cache.py
        self._swept: dict[str, float] = {}
        self._thread_engine = sqlite_thread_engine(engine)

    async def close(self) -> None:
        """Write the audit records still queued, close the inline read connections, and
        dispose of the engine."""
        await self.audit_writer.drain()
        self.audit_writer.close()
        self.reads.close()
        if self._thread_engine is not None:
            self._thread_engine.dispose()
        await self.engine.dispose()

    # --- one transaction for the writes of one request ---------------------------------------

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Within this block, the writes that need no answer from the database (the end of a
        login: the identity's new tokens, the user's login stamp, the session, the grant, the
        authorization code) are queued and committed in one transaction when the block ends
        without an exception; if it raises, none of them is written. One commit instead of
        five per login is most of a login's database cost (a transaction through SQLAlchemy
        async is a few hundred µs of CPU, and on SQLite it takes the one write lock). A
        write whose outcome the code needs (a first login's INSERT, single-use markers,
        code redemption) still runs at once."""
        pending = _Batch()
        token = CURRENT_BATCH.set(pending)
        try:
            yield
        finally:
            CURRENT_BATCH.reset(token)
        await self._commit(pending.statements)

    async def flush(self) -> None:
        """Commit what the current batch has queued so far (before reading it back)."""
        pending = CURRENT_BATCH.get()
        if pending is not None:
            statements, pending.statements = pending.statements, []
            await self._commit(statements)

    async def _commit(self, statements: list[tuple[Any, dict[str, Any] | None]]) -> None:
        def run(conn: sa.Connection) -> None:
            for statement, parameters in statements:
                conn.execute(statement, parameters)
        if statements:
            await self._in_thread(run)

    async def _in_thread(self, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work`` in one transaction. On SQLite, the whole of it in one worker thread
        on a blocking connection: through aiosqlite each statement is three or four hops
        between the event loop and aiosqlite's thread (cursor, execute, fetch, close; then
        commit), and each hop resumes the request's whole ASGI stack, some 50-100 µs of CPU
        apiece. The event loop never waits on the file or its write lock. On PostgreSQL
        (asyncpg is natively async) the same function runs on an async connection."""
        if self._thread_engine is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        return await asyncio.to_thread(self._blocking, work)

    def _blocking(self, work: Callable[[sa.Connection], _T]) -> _T:
        assert self._thread_engine is not None
        with self._thread_engine.begin() as conn:
            return work(conn)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Any]:
        """A transaction for writes whose results are not read: the current batch's queue if
        there is one, else a transaction of their own."""
        pending = CURRENT_BATCH.get()
        if pending is not None:
            yield pending
            return
        async with self.engine.begin() as conn:
            yield conn

    def _sweep_due(self, table: str) -> bool:
        """Expired rows are deleted by the next write at most every SWEEP_EVERY_S per
        process, not by every login: they are refused by their expiry anyway, and the
        DELETE was one of the statements each login paid for."""
        clock = time.monotonic()
        if clock - self._swept.get(table, float("-inf")) < SWEEP_EVERY_S:
            return False
        self._swept[table] = clock
        return True
