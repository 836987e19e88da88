"""Clients and client grants as the request paths read them, kept per process and checked
against the ``clients`` row of ``cache_versions`` on every read.

Every token request reads its client and the client's grant for the audience: two statements
and the rows turned into records, 50–100 µs of a 430 µs request (docs/performance.md). Every
write to either table bumps the version in its own transaction, so a read that finds
the version it filled under knows no process has changed anything since: a deleted client, a
rotated secret or a revoked grant takes effect on the next request everywhere, exactly as
without the cache (``bump``). The version is read before the rows a miss fills from, so what
a miss stores is at least as new as the version it is stored under; a newer version clears
it. The records kept are frozen and shared: callers must not change their lists.

Unknown client ids are not kept (anyone can send them), and the cache starts over past
``MAX_ENTRIES``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from idbroker.clock import now_ms
from idbroker.vault import schema as t
from idbroker.vault.records import Client, ClientGrant

NAME = "clients"
MAX_ENTRIES = 4096


def _bump(insert: Any) -> Any:
    # An upsert, so a missing row (a table emptied by hand) comes back with the first write;
    # until then a read finds no version and caches nothing. It comes back at the clock in
    # milliseconds, never at a version some process may still hold a cache for.
    statement = insert(t.cache_versions).values(name=NAME, version=sa.bindparam("restart_at"))
    return statement.on_conflict_do_update(
        index_elements=[t.cache_versions.c.name],
        set_={"version": t.cache_versions.c.version + 1})


_BUMPS: dict[str, Any] = {}


class ClientCache:
    __slots__ = ("version", "clients", "grants")

    def __init__(self) -> None:
        self.version: int | None = None
        self.clients: dict[str, Client] = {}
        self.grants: dict[tuple[str, str | None], tuple[ClientGrant, ...]] = {}

    def at(self, version: int) -> ClientCache:
        """This cache as of ``version``: emptied if anything was written since it filled."""
        if version != self.version:
            self.version = version
            self.clients = {}
            self.grants = {}
        return self

    def keep(self, kind: str, key: Any, value: Any) -> None:
        """``kind``: "clients" (by client id) or "grants" (by client id and audience)."""
        if len(self.clients) + len(self.grants) >= MAX_ENTRIES:
            self.clients = {}
            self.grants = {}
        getattr(self, kind)[key] = value


async def bump(conn: Any) -> None:
    """In the writing transaction: every process's cache is stale from its commit on."""
    dialect = conn.dialect.name
    statement = _BUMPS.get(dialect)
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = _BUMPS[dialect] = _bump(insert)
    await conn.execute(statement, {"restart_at": now_ms()})
