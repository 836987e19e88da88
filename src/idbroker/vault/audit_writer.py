"""Audit records written by group commit: every caller of ``Store.audit`` waits until its row
is committed — exactly as when each row had its own transaction — but the rows of all the
requests in flight at that moment share one INSERT and one commit.

How a batch forms: the first row finds no writer running and starts one; the writer yields to
the event loop once, so every request already past its own work adds its row, then takes all
queued rows and writes them in one transaction. Rows that arrive while that commit is in flight
make up the next batch. Under load a batch holds about as many rows as there are requests in
flight, so the cost per row falls as the load rises; an idle server writes each row at once.

On SQLite the batch is written with the standard ``sqlite3`` module (skipping SQLAlchemy's
per-statement work), on the event loop itself when the write lock is free at once: in WAL mode
with ``synchronous=NORMAL`` a commit appends to the log without an fsync, so the loop never waits
on the disk; the one step that does fsync, the checkpoint, is never run there (the connection's
automatic checkpoint is off) but handed to a thread of its own every ``CHECKPOINT_EVERY``
commits. When another connection holds the write lock (the other workers, a login) the batch
goes to that thread, which waits for the lock, so the loop never waits on another writer either.
Writing inline saves the thread hop of every batch: a quarter of an audited read's cost.

A PASSIVE checkpoint alone never lets the log start over under steady load: SQLite rewinds the
log only when a write begins with every frame already copied back, and the inline commits go on
appending while the thread copies. The log then grows without end (a gigabyte in minutes at a few
thousand reads a second). So once it holds more than ``RESTART_FRAMES`` frames, the thread runs a
RESTART checkpoint, which holds the write lock while it copies the frames written since the
PASSIVE one (batches meanwhile go to the thread and wait) and waits a moment for readers still
on the log; the next commit then writes from the log's start, and
``journal_size_limit`` gives the file back to the disk. A reader holding an old snapshot for
long (an export) makes it give up after ``RESTART_WAIT_MS``; the next checkpoint tries again.
On PostgreSQL the batch is one statement on the asyncpg pool of the hot paths (vault/pg_pool.py):
an INSERT … SELECT FROM unnest() of one array per column, in a transaction of its own, so one
round trip whatever the batch's size. It skips a row whose id is already there (ids are random),
which makes the statement safe to send again when the connection died before its answer came
back (the commit may or may not have happened). Without that pool (a Store built outside
``Runtime``), through SQLAlchemy's pool.

Durability is unchanged (docs/performance.md): a request that reads IdP tokens is answered only
after its audit row is committed, so a crash loses no record of a read that was answered. A
failed batch is retried row by row, so one bad row fails only its own request.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from idbroker import json_codec
from idbroker.vault import schema as t
from idbroker.vault.db import WAL_SIZE_LIMIT
from idbroker.vault.hot_reads import sqlite_file

if TYPE_CHECKING:  # asyncpg is imported only on PostgreSQL (start-up time)
    from idbroker.vault.pg_pool import PgPool

log = logging.getLogger(__name__)

# A bound on one INSERT: larger batches are split so one statement never grows without end.
MAX_BATCH = 500
# Inline commits between two checkpoints run by the writer thread: a few MB of log at most.
CHECKPOINT_EVERY = 64
# Frames (pages) in the log past which the checkpoint also rewinds it: 16 MB of 4 KB pages.
RESTART_FRAMES = 4096
# How long a rewinding checkpoint may hold the write lock waiting for readers on the log.
RESTART_WAIT_MS = 20


class _Queue:
    __slots__ = ("rows", "writer")

    def __init__(self) -> None:
        self.rows: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self.writer: asyncio.Task[None] | None = None


class AuditWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # One queue and writer task per event loop: a store may serve several loops at once
        # (the interop tests run servers in threads of their own).
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = \
            weakref.WeakKeyDictionary()
        self._path = sqlite_file(engine)
        self._executor: ThreadPoolExecutor | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._inline = threading.local()
        self._inline_opened: list[sqlite3.Connection] = []
        self._since_checkpoint = 0  # inline commits since the last checkpoint began
        self._checkpoints: set[asyncio.Future[None]] = set()
        self._json = [c.name for c in t.audit_log.c if isinstance(c.type, sa.JSON)]
        self._insert = str(t.audit_log.insert().compile(dialect=sqlite_dialect(
            paramstyle="named"), column_keys=[c.name for c in t.audit_log.c]))
        self.pg_pool: PgPool | None = None  # set by Runtime.start (use_pool)
        self._columns = [c.name for c in t.audit_log.c]
        self._pg_insert = _pg_unnest_insert()

    def use_pool(self, pool: PgPool) -> None:
        """Write the PostgreSQL batches through ``pool`` from now on."""
        self.pg_pool = pool

    async def write(self, row: dict[str, Any]) -> None:
        """Return once ``row`` is committed to ``audit_log`` (raise if it could not be)."""
        loop = asyncio.get_running_loop()
        queue = self._loops.get(loop)
        if queue is None:
            queue = self._loops[loop] = _Queue()
        done: asyncio.Future[None] = loop.create_future()
        queue.rows.append((row, done))
        if queue.writer is None or queue.writer.done():
            queue.writer = loop.create_task(self._run(queue))
        await done

    async def drain(self) -> None:
        """Wait until every row queued in this event loop is written (shutdown)."""
        queue = self._loops.get(asyncio.get_running_loop())
        if queue is not None and queue.writer is not None and not queue.writer.done():
            await asyncio.shield(queue.writer)

    async def _run(self, queue: _Queue) -> None:
        await asyncio.sleep(0)  # let the requests already running add their rows
        while queue.rows:
            batch, queue.rows = queue.rows[:MAX_BATCH], queue.rows[MAX_BATCH:]
            await self._commit(batch)

    def close(self) -> None:
        """Stop the SQLite writer thread (after drain); a later write starts a new one."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        for conn in self._inline_opened:
            conn.close()
        self._inline_opened.clear()
        self._inline = threading.local()

    def _params(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        json_columns = self._json
        params = []
        for row in rows:
            row = dict(row)
            for name in json_columns:
                row[name] = _json_text(row[name])
            params.append(row)
        return params

    def _writer_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            self._sqlite = sqlite3.connect(self._path or "", check_same_thread=False)
            self._sqlite.execute("PRAGMA busy_timeout=30000")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")  # as the engine's connections
            self._sqlite.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return self._sqlite

    def _insert_sqlite(self, rows: list[dict[str, Any]]) -> None:
        """In the writer thread: one transaction for the whole batch."""
        conn = self._writer_connection()
        with conn:  # commits, or rolls back on error
            conn.executemany(self._insert, self._params(rows))

    def _checkpoint(self) -> None:
        """In the writer thread: copy the log into the database file, as far as no reader
        still needs it (PASSIVE never waits for anyone); past ``RESTART_FRAMES``, also make
        the next commit write from the log's start (the module's docstring says why)."""
        conn = self._writer_connection()
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames <= RESTART_FRAMES:
            return
        conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            conn.execute("PRAGMA busy_timeout=30000")
        if busy:
            log.debug("audit log: the write-ahead log could not be rewound yet (a reader)")

    def _inline_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._inline, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path or "", isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=0")  # locked: the thread takes the batch
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the thread checkpoints (_checkpoint)
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._inline.conn = conn
            self._inline_opened.append(conn)
        return conn

    def _insert_inline(self, rows: list[dict[str, Any]]) -> bool:
        """On the event loop, if no other connection is writing; False: nothing written."""
        conn = self._inline_connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        try:
            conn.executemany(self._insert, self._params(rows))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._since_checkpoint += 1
        # One checkpoint at a time: while the loop keeps the GIL busy, queued ones would run
        # back to back with nothing new to copy.
        if self._since_checkpoint >= CHECKPOINT_EVERY and not self._checkpoints:
            self._since_checkpoint = 0
            self._start_checkpoint()
        return True

    def _start_checkpoint(self) -> None:
        done = asyncio.get_running_loop().run_in_executor(self._thread(), self._checkpoint)
        self._checkpoints.add(done)
        done.add_done_callback(_checkpoint_done(self._checkpoints))

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="idbroker-audit")
        return self._executor

    async def _commit(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        try:
            if self._path is not None:
                rows = [row for row, _ in batch]
                if not self._insert_inline(rows):
                    await asyncio.get_running_loop().run_in_executor(
                        self._thread(), self._insert_sqlite, rows)
            elif self.pg_pool is not None and self.pg_pool.usable:
                await self.pg_pool.execute(self._pg_insert, self._pg_arrays(
                    [row for row, _ in batch]))
            else:
                async with self.engine.begin() as conn:
                    await conn.execute(t.audit_log.insert(), [row for row, _ in batch])
        except Exception as exc:  # noqa: BLE001 — one bad row must not fail the others
            if len(batch) == 1 or (self.pg_pool is not None and self.pg_pool.lost(exc)):
                # The database is unreachable (the pool already retried once): row by row
                # would only try as many more times.
                for _, done in batch:
                    _settle(done, exc)
                return
            for item in batch:
                await self._commit([item])
            return
        for _, done in batch:
            _settle(done, None)

    def _pg_arrays(self, rows: list[dict[str, Any]]) -> list[list[Any]]:
        """One array per column, JSON columns as their text (the statement casts them)."""
        return [[_json_text(row[name]) for row in rows] if name in self._json
                else [row.get(name) for row in rows] for name in self._columns]


def _json_text(value: Any) -> str:
    # Text, not bytes: sqlite3 would store bytes as a BLOB, which SQLite's JSON functions refuse.
    return json_codec.dumps(value).decode("utf-8")


def _pg_unnest_insert() -> str:
    columns = list(t.audit_log.c)
    arrays = ", ".join(f"${n}::{_pg_array_type(c)}" for n, c in enumerate(columns, 1))
    names = ", ".join(c.name for c in columns)
    return (f"INSERT INTO {t.audit_log.name} ({names}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({t.audit_log.c.id.name}) DO NOTHING")


def _pg_array_type(column: sa.Column[Any]) -> str:
    if isinstance(column.type, sa.JSON):
        return "json[]"
    if isinstance(column.type, sa.BigInteger):
        return "bigint[]"
    if isinstance(column.type, sa.Integer):
        return "integer[]"
    if isinstance(column.type, sa.String):
        return "text[]"
    raise TypeError(f"audit_log.{column.name}: no PostgreSQL array type for {column.type!r}")


def _checkpoint_done(pending: set[asyncio.Future[None]]) -> Any:
    def done(future: asyncio.Future[None]) -> None:
        pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            # The next one, or any other connection's automatic checkpoint, catches up.
            log.warning("audit log checkpoint failed: %s", type(future.exception()).__name__)
    return done


def _settle(done: asyncio.Future[None], exc: BaseException | None) -> None:
    if done.done():  # the request was cancelled (client went away): nothing to tell it
        return
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)
