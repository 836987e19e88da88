"""Audit records written by group commit: every caller of ``Store.audit`` waits until its row
is committed — exactly as when each row had its own transaction — but the rows of all the
requests in flight at that moment share one INSERT and one commit.

How a batch forms: the first row finds no writer running and starts one; the writer yields to
the event loop once, so every request already past its own work adds its row, then takes all
queued rows and writes them in one transaction. Rows that arrive while that commit is in flight
make up the next batch. Under load a batch holds about as many rows as there are requests in
flight, so the cost per row falls as the load rises; an idle server writes each row at once.

Durability is unchanged (docs/performance.md): a request that reads IdP tokens is answered only
after its audit row is committed, so a crash loses no record of a read that was answered. A
failed batch is retried row by row, so one bad row fails only its own request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from idbroker.vault import schema as t

log = logging.getLogger(__name__)

# A bound on one INSERT: larger batches are split so one statement never grows without end.
MAX_BATCH = 500


class AuditWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def write(self, row: dict[str, Any]) -> None:
        """Return once ``row`` is committed to ``audit_log`` (raise if it could not be)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A store used from another event loop (tests, the CLI) starts a fresh queue;
            # whatever the old loop left is its own to finish.
            self._loop, self._queue, self._writer = loop, [], None
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._run())
        await done

    async def drain(self) -> None:
        """Wait until every queued row is written (shutdown)."""
        writer = self._writer
        if writer is not None and not writer.done() and self._loop is asyncio.get_running_loop():
            await asyncio.shield(writer)

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let the requests already running add their rows
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(t.audit_log.insert(), [row for row, _ in batch])
        except Exception as exc:  # noqa: BLE001 — one bad row must not fail the others
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for item in batch:
                await self._commit([item])
            return
        for _, done in batch:
            _settle(done, None)


def _settle(done: asyncio.Future[None], exc: BaseException | None) -> None:
    if done.done():  # the request was cancelled (client went away): nothing to tell it
        return
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)
