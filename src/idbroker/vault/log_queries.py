"""SQL for reading the audit log (``GET /api/v2/logs``): filtered, paged by offset or from a
checkpoint, served by the indexes on (type, date), (client_id, date), user_id and date."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from idbroker.vault import schema as t
from idbroker.vault.store import Store

log = t.audit_log


@dataclass(frozen=True)
class LogFilter:
    type: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    connection: str | None = None
    ip: str | None = None
    date_from: int | None = None  # epoch ms, inclusive
    date_to: int | None = None  # epoch ms, inclusive

    def where(self) -> list[Any]:
        conditions: list[Any] = []
        for name in ("type", "user_id", "client_id", "connection", "ip"):
            value = getattr(self, name)
            if value is not None:
                conditions.append(log.c[name] == value)
        if self.date_from is not None:
            conditions.append(log.c.date >= self.date_from)
        if self.date_to is not None:
            conditions.append(log.c.date <= self.date_to)
        return conditions


async def page(store: Store, where: LogFilter, *, offset: int, limit: int,
               ascending: bool) -> list[dict[str, Any]]:
    order = (log.c.date.asc(), log.c.id.asc()) if ascending else (log.c.date.desc(),
                                                                   log.c.id.desc())
    query = sa.select(log).where(*where.where()).order_by(*order).offset(offset).limit(limit)
    async with store.engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]


async def count(store: Store, where: LogFilter) -> int:
    query = sa.select(sa.func.count()).select_from(log).where(*where.where())
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def after(store: Store, where: LogFilter, checkpoint: str,
                take: int) -> list[dict[str, Any]] | None:
    """Entries after the checkpoint ``log_id``, oldest first; None if it is unknown."""
    async with store.engine.connect() as conn:
        mark = (await conn.execute(sa.select(log.c.date, log.c.id).where(
            log.c.id == checkpoint))).first()
        if mark is None:
            return None
        later = sa.or_(log.c.date > mark.date, sa.and_(log.c.date == mark.date, log.c.id > mark.id))
        rows = await conn.execute(sa.select(log).where(later, *where.where()).order_by(
            log.c.date.asc(), log.c.id.asc()).limit(take))
        return [dict(row._mapping) for row in rows]


async def get(store: Store, log_id: str) -> dict[str, Any] | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(log).where(log.c.id == log_id))).first()
    return dict(row._mapping) if row else None
