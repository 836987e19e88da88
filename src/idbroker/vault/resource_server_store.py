"""SQL for resource servers (the APIs apps request access tokens for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.errors import Conflict
from idbroker.ids import new_id
from idbroker.vault import client_cache
from idbroker.vault import schema as t
from idbroker.vault.store import Store

FIELDS = ("name", "scopes", "token_lifetime", "signing_alg", "enforce_policies",
          "allow_offline_access")


@dataclass(frozen=True, slots=True)
class ResourceServer:
    id: str
    name: str
    identifier: str
    scopes: list[dict[str, str]]
    token_lifetime: int
    signing_alg: str
    enforce_policies: bool
    allow_offline_access: bool
    created_at: int
    updated_at: int

    @property
    def scope_values(self) -> list[str]:
        return [s["value"] for s in self.scopes]


async def create(store: Store, *, identifier: str, **fields: Any) -> ResourceServer:
    stamp = now_ms()
    server_id = new_id("rs_", 20)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(t.resource_servers.insert().values(
                id=server_id, identifier=identifier, created_at=stamp, updated_at=stamp,
                **{k: fields[k] for k in FIELDS}))
    except IntegrityError as exc:
        raise Conflict("A resource server with the same identifier already exists",
                       error_code="resource_server_conflict") from exc
    found = await get(store, server_id)
    assert found is not None
    return found


async def get(store: Store, server_id: str) -> ResourceServer | None:
    return await _one(store, t.resource_servers.c.id == server_id)


async def get_by_identifier(store: Store, identifier: str) -> ResourceServer | None:
    return await _one(store, t.resource_servers.c.identifier == identifier)


async def _one(store: Store, condition: Any) -> ResourceServer | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.resource_servers).where(condition))).first()
    return ResourceServer(**row._mapping) if row else None


async def list_all(store: Store) -> list[ResourceServer]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(t.resource_servers).order_by(
            t.resource_servers.c.created_at, t.resource_servers.c.id))
    return [ResourceServer(**row._mapping) for row in rows]


async def update(store: Store, server_id: str, changes: dict[str, Any]) -> ResourceServer | None:
    values = {k: v for k, v in changes.items() if k in FIELDS}
    values["updated_at"] = now_ms()
    async with store.engine.begin() as conn:
        result = await conn.execute(t.resource_servers.update().where(
            t.resource_servers.c.id == server_id).values(**values))
    return await get(store, server_id) if result.rowcount else None


async def delete(store: Store, server_id: str) -> bool:
    """Delete the API and the client grants for it: a later API with the same identifier
    must not inherit permissions granted to this one."""
    async with store.engine.begin() as conn:
        row = (await conn.execute(sa.select(t.resource_servers.c.identifier).where(
            t.resource_servers.c.id == server_id))).first()
        if row is None:
            return False
        await conn.execute(t.client_grants.delete().where(
            t.client_grants.c.audience == row.identifier))
        await client_cache.bump(conn)
        await conn.execute(t.resource_servers.delete().where(t.resource_servers.c.id == server_id))
    return True
