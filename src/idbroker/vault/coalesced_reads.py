"""Concurrent reads of one kind on PostgreSQL share one statement: the users (or clients, or
client grants) asked for in the same moment are read with one ``… = ANY($1)`` instead of one
statement each. The read counterpart of the audit group commit (vault/audit_writer.py).

Why: on PostgreSQL each statement costs a round trip — on the client, a send, a wakeup, a
receive and asyncpg's protocol work; on the server, a Bind/Execute and executor start-up — and
both share the cores with the rest of the request. Measured on this project's box, a user read
alone was ~100 µs of client and ~80 µs of server CPU; in a statement of 8 keys, ~20 and ~40 µs
per key.

How a batch forms: the first read starts a flight, which yields to the event loop once (every
request already at that point adds its key), then takes the keys queued and runs one
statement. At most ``max_flights`` statements of a kind run at once; reads arriving while all
of them are in flight queue, and the first flight to finish takes them. Under load a batch
holds about as many keys as there are requests in flight; an idle server reads each key at
once, one loop iteration later.

Read-your-writes holds: the statement that serves a read is sent after the read was asked
for, so it sees every transaction committed before (PostgreSQL takes its snapshot when the
statement starts). Each waiter gets its own rows (immutable asyncpg records), so nothing built
from them is shared between requests. A failed statement is retried key by key, so a bad key
fails only its own read; a lost database fails the whole batch at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idbroker.vault.pg_pool import PgPool

# A bound on one statement's array: more keys wait for the next statement of the flight.
MAX_KEYS = 256

Key = Hashable


class Coalescer:
    """One kind of read: ``sql`` takes the arrays ``arrays(keys)`` makes and returns the rows of
    all of them; ``key_of(row)`` says whose row it is; ``single(key)`` reads one key alone (the
    retry of a failed batch)."""

    def __init__(self, pool: PgPool, sql: str, *, arrays: Callable[[list[Key]], list[Any]],
                 key_of: Callable[[Any], Key],
                 single: Callable[[Key], Awaitable[Sequence[Any]]], max_flights: int) -> None:
        self.pool = pool
        self.sql = sql
        self.arrays = arrays
        self.key_of = key_of
        self.single = single
        self.max_flights = max(1, max_flights)
        self._waiting: dict[Key, list[asyncio.Future[Sequence[Any]]]] = {}
        self._flights = 0
        self._scheduled = False  # a flight will take the waiting keys at its next turn
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def rows(self, key: Key) -> Sequence[Any]:
        """The rows of ``key`` (empty when there are none)."""
        done: asyncio.Future[Sequence[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(done)
        if not self._scheduled and self._flights < self.max_flights:
            self._scheduled = True
            self._flights += 1
            task = asyncio.get_running_loop().create_task(self._flight())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    async def _flight(self) -> None:
        try:
            while True:
                await asyncio.sleep(0)  # let the requests already running add their keys
                self._scheduled = False
                batch = self._take()
                await self._serve(batch)
                if not self._waiting or self._scheduled:
                    return
                # Keys that arrived while every flight was busy: this flight takes them.
                self._scheduled = True
        finally:
            self._flights -= 1

    def _take(self) -> dict[Key, list[asyncio.Future[Sequence[Any]]]]:
        if len(self._waiting) <= MAX_KEYS:
            batch, self._waiting = self._waiting, {}
            return batch
        keys = list(self._waiting)[:MAX_KEYS]
        return {key: self._waiting.pop(key) for key in keys}

    async def _serve(self, batch: dict[Key, list[asyncio.Future[Sequence[Any]]]]) -> None:
        keys = list(batch)
        try:
            try:
                if not self.pool.usable:  # closing (shutdown): ``single`` reads elsewhere
                    raise _PoolClosing
                found = await self.pool.fetch(self.sql, self.arrays(keys))
            except Exception as exc:  # noqa: BLE001 — one bad key must not fail the others
                if (len(keys) == 1 and not isinstance(exc, _PoolClosing)) or self.pool.lost(exc):
                    _settle_all(batch, exc)
                    return
                for key in keys:
                    try:
                        rows = await self.single(key)
                    except Exception as one:  # noqa: BLE001
                        _settle(batch[key], None, one)
                    else:
                        _settle(batch[key], rows, None)
                return
            grouped: dict[Key, list[Any]] = {}
            for row in found:
                grouped.setdefault(self.key_of(row), []).append(row)
            for key, waiters in batch.items():
                _settle(waiters, grouped.get(key, ()), None)
        except BaseException as exc:  # cancelled, or a bug: no reader may wait for ever
            _settle_all(batch, exc if isinstance(exc, Exception)
                        else RuntimeError("read batch interrupted"))
            raise


class _PoolClosing(Exception):
    pass


def _settle(waiters: list[asyncio.Future[Sequence[Any]]], rows: Sequence[Any] | None,
            exc: BaseException | None) -> None:
    for done in waiters:
        if done.done():  # the request was cancelled (client went away), or already told
            continue
        if exc is None:
            done.set_result(rows if rows is not None else ())
        else:
            done.set_exception(exc)


def _settle_all(batch: dict[Key, list[asyncio.Future[Sequence[Any]]]],
                exc: BaseException) -> None:
    for waiters in batch.values():
        _settle(waiters, None, exc)
