"""Clients (the applications that sign in through the broker), their secrets, and the client
grants that let a client ask for an API's access token on its own behalf. A client secret is
kept only as its keyed digest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.errors import Conflict
from idbroker.ids import new_id
from idbroker.vault import client_cache
from idbroker.vault import schema as t
from idbroker.vault.records import Client, ClientGrant
from idbroker.vault.store_base import StoreBase

_CLIENT_FIELDS = ("name", "description", "app_type", "token_endpoint_auth_method", "callbacks",
                  "allowed_logout_urls", "web_origins", "grant_types", "is_first_party",
                  "token_exchange_connections")


class ClientStore(StoreBase):
    async def create_client(self, *, client_id: str, secret: str | None, **fields: Any) -> Client:
        stamp = now_ms()
        digest = self.vault.digest("client-secret", secret) if secret else None
        async with self.engine.begin() as conn:
            await conn.execute(t.clients.insert().values(
                client_id=client_id, secret_digest=digest, created_at=stamp, updated_at=stamp,
                **{k: fields[k] for k in _CLIENT_FIELDS if k in fields}))
            await client_cache.bump(conn)
        client = await self.get_client(client_id)
        assert client is not None
        return client

    async def get_client(self, client_id: str) -> Client | None:
        return await self._cached("clients", client_id, lambda: self.reads.client(client_id))

    async def _cached(self, kind: str, key: Any, read: Callable[[], Awaitable[Any]]) -> Any:
        """``read()``, through this process's cache of ``kind``, valid while no process has
        written a client or a client grant since it filled (vault/client_cache.py)."""
        version = await self.reads.cache_version(client_cache.NAME)
        if version is None:  # a schema made without its migrations: nothing is cached
            return await read()
        cache = self.client_cache.at(version)
        found = getattr(cache, kind).get(key)
        if found is None:
            found = await read()
            # Nothing found is not kept (any id can be asked about), nor what a read got
            # while a newer version arrived: it may predate that write.
            if found and cache.version == version:
                cache.keep(kind, key, found)
        return found

    async def list_clients(self) -> list[Client]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(t.clients).order_by(t.clients.c.created_at))
        return [Client(**row._mapping) for row in rows]

    async def update_client(self, client_id: str, changes: dict[str, Any],
                            secret: str | None = None, clear_secret: bool = False) -> Client | None:
        values = {k: v for k, v in changes.items() if k in _CLIENT_FIELDS}
        if secret is not None:
            values["secret_digest"] = self.vault.digest("client-secret", secret)
        elif clear_secret:
            values["secret_digest"] = None
        values["updated_at"] = now_ms()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.clients.update().where(t.clients.c.client_id == client_id).values(**values))
            await client_cache.bump(conn)
        return await self.get_client(client_id) if result.rowcount else None

    async def delete_client(self, client_id: str) -> bool:
        async with self.engine.begin() as conn:
            await conn.execute(t.client_grants.delete().where(t.client_grants.c.client_id == client_id))
            # People's consents to this app go with it: an app created later under the same id
            # (an import, say) must ask again.
            await conn.execute(t.consents.delete().where(t.consents.c.client_id == client_id))
            result = await conn.execute(t.clients.delete().where(t.clients.c.client_id == client_id))
            await client_cache.bump(conn)
            rows = await conn.execute(sa.select(t.connections.c.id, t.connections.c.enabled_clients))
            for connection_id, enabled in list(rows):
                if client_id in enabled:
                    await conn.execute(t.connections.update().where(
                        t.connections.c.id == connection_id).values(
                        enabled_clients=[c for c in enabled if c != client_id]))
        return bool(result.rowcount)

    def client_secret_matches(self, client: Client, secret: str) -> bool:
        if client.secret_digest is None:
            return False
        return self.vault.verify_digest("client-secret", secret, client.secret_digest)

    # --- client grants ---------------------------------------------------------------------

    async def create_client_grant(self, client_id: str, audience: str, scope: list[str]) -> ClientGrant:
        grant = ClientGrant(id=new_id("cgr_"), client_id=client_id, audience=audience, scope=scope)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(t.client_grants.insert().values(
                    id=grant.id, client_id=client_id, audience=audience, scope=scope,
                    created_at=now_ms()))
                await client_cache.bump(conn)
        except IntegrityError as exc:
            raise Conflict("A client grant for this client and audience already exists",
                           error_code="client_grant_conflict") from exc
        return grant

    async def list_client_grants(self, *, client_id: str | None = None,
                                 audience: str | None = None) -> list[ClientGrant]:
        if client_id:
            key = (client_id, audience or None)
            return list(await self._cached(
                "grants", key, lambda: self._grants_read(*key)))
        query = sa.select(t.client_grants.c.id, t.client_grants.c.client_id,
                          t.client_grants.c.audience, t.client_grants.c.scope
                          ).order_by(t.client_grants.c.created_at)
        if audience:
            query = query.where(t.client_grants.c.audience == audience)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
        return [ClientGrant(**row._mapping) for row in rows]

    async def _grants_read(self, client_id: str, audience: str | None) -> tuple[ClientGrant, ...]:
        return tuple(await self.reads.client_grants(client_id, audience))

    async def get_client_grant(self, grant_id: str) -> ClientGrant | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(
                t.client_grants.c.id, t.client_grants.c.client_id, t.client_grants.c.audience,
                t.client_grants.c.scope).where(t.client_grants.c.id == grant_id))).first()
        return ClientGrant(**row._mapping) if row else None

    async def update_client_grant(self, grant_id: str, scope: list[str]) -> ClientGrant | None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.client_grants.update().where(t.client_grants.c.id == grant_id).values(scope=scope))
            await client_cache.bump(conn)
        return await self.get_client_grant(grant_id) if result.rowcount else None

    async def delete_client_grant(self, grant_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(t.client_grants.delete().where(t.client_grants.c.id == grant_id))
            await client_cache.bump(conn)
        return bool(result.rowcount)
