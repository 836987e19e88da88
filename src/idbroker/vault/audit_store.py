"""The audit log: records written by group commit (audit_writer.py) and read back newest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from idbroker.clock import now_ms
from idbroker.ids import time_ordered_id
from idbroker.vault import schema as t
from idbroker.vault.store_base import StoreBase


class AuditStore(StoreBase):
    async def audit(self, type_: str, *, description: str, client_id: str | None = None,
                    user_id: str | None = None, connection: str | None = None,
                    ip: str | None = None, details: dict[str, Any] | None = None) -> None:
        # Committed before this returns; shares its transaction with concurrent records.
        date = now_ms()
        await self.audit_writer.write(dict(
            id=time_ordered_id("log_", date), date=date, type=type_, client_id=client_id,
            user_id=user_id, connection=connection, ip=ip, description=description,
            details=details or {}))

    async def list_audit(self, user_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = sa.select(t.audit_log).order_by(t.audit_log.c.date.desc()).limit(limit)
        if user_id:
            query = query.where(t.audit_log.c.user_id == user_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
        return [dict(row._mapping) for row in rows]

