"""Connections: the upstream identity providers (and databases) people sign in with. A
connection's secrets (an upstream ``client_secret``) are sealed, bound to the connection's id."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.errors import Conflict
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.records import Connection
from idbroker.vault.store_base import StoreBase


def _aad_connection(connection_id: str) -> str:
    return f"idbroker/connection-secrets/{connection_id}"


class ConnectionStore(StoreBase):
    def _connection(self, row: Any) -> Connection:
        data = dict(row._mapping)
        sealed = data.pop("secrets_sealed")
        secrets = json.loads(self.vault.open(sealed, _aad_connection(data["id"]))) if sealed else {}
        return Connection(**data, secrets=secrets)

    async def create_connection(self, *, name: str, strategy: str, options: dict[str, Any],
                                secrets: dict[str, str], enabled_clients: list[str],
                                display_name: str | None) -> Connection:
        connection_id = new_id("con_")
        stamp = now_ms()
        sealed = self.vault.seal(json.dumps(secrets).encode(), _aad_connection(connection_id))
        try:
            async with self.engine.begin() as conn:
                await conn.execute(t.connections.insert().values(
                    id=connection_id, name=name, strategy=strategy, options=options,
                    secrets_sealed=sealed, enabled_clients=enabled_clients,
                    display_name=display_name, created_at=stamp, updated_at=stamp))
        except IntegrityError as exc:
            raise Conflict("A connection with the same name already exists",
                           error_code="connection_conflict") from exc
        found = await self.get_connection(connection_id)
        assert found is not None
        return found

    async def get_connection(self, connection_id: str) -> Connection | None:
        # Every login reads it (and list_connections): one hop each (Store._in_thread).
        row = await self._in_thread(lambda conn: conn.execute(
            sa.select(t.connections).where(t.connections.c.id == connection_id)).first())
        return self._connection(row) if row else None

    async def get_connection_by_name(self, name: str) -> Connection | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(t.connections).where(t.connections.c.name == name))).first()
        return self._connection(row) if row else None

    async def list_connections(self, strategy: str | None = None) -> list[Connection]:
        query = sa.select(t.connections).order_by(t.connections.c.created_at)
        if strategy:
            query = query.where(t.connections.c.strategy == strategy)
        rows = await self._in_thread(lambda conn: conn.execute(query).all())
        return [self._connection(row) for row in rows]

    async def update_connection(self, connection_id: str, *, options: dict[str, Any] | None = None,
                                secrets: dict[str, str] | None = None,
                                enabled_clients: list[str] | None = None,
                                display_name: str | None = None) -> Connection | None:
        values: dict[str, Any] = {"updated_at": now_ms()}
        if options is not None:
            values["options"] = options
        if secrets is not None:
            values["secrets_sealed"] = self.vault.seal(
                json.dumps(secrets).encode(), _aad_connection(connection_id))
        if enabled_clients is not None:
            values["enabled_clients"] = enabled_clients
        if display_name is not None:
            values["display_name"] = display_name
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.connections.update().where(t.connections.c.id == connection_id).values(**values))
        return await self.get_connection(connection_id) if result.rowcount else None

    async def delete_connection(self, connection_id: str) -> bool:
        """Delete a connection with its identities, and the users left with none (as Auth0
        does), so a later connection of the same name starts from a clean slate."""
        async with self.engine.begin() as conn:
            owners = list((await conn.execute(sa.select(t.identities.c.user_id).where(
                t.identities.c.connection_id == connection_id))).scalars())
            await conn.execute(t.identities.delete().where(
                t.identities.c.connection_id == connection_id))
            if owners:
                await conn.execute(t.users.delete().where(
                    t.users.c.user_id.in_(owners),
                    t.users.c.user_id.not_in(sa.select(t.identities.c.user_id))))
            result = await conn.execute(
                t.connections.delete().where(t.connections.c.id == connection_id))
        return bool(result.rowcount)
