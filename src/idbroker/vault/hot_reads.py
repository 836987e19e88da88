"""The reads on the request hot paths — a user with its identities (the token read), a client
and its client grants (every token request) — each one statement on the cheapest path the
engine allows (docs/performance.md, "Hot-path work").

On SQLite that is the standard ``sqlite3`` module, inline on the event loop: a primary-key read
costs microseconds there, against about a millisecond through SQLAlchemy's asyncio layer and
aiosqlite's thread hop. It is safe to block the loop for it because under WAL a reader never
waits for a writer; each statement runs in autocommit mode on a ``query_only`` connection, so it
sees every transaction committed before it started (the same read-your-writes the pooled path
gives) and can never write. Writes keep going through SQLAlchemy, off the loop.

On PostgreSQL the same statements, compiled once, go to the small asyncpg pool of their own
(vault/pg_pool.py; asyncpg prepares and caches them per connection), each its own implicit
transaction, so a read sees every write committed before it, from any process. SQLAlchemy's
adapter would wrap each in BEGIN … ROLLBACK, two more round trips, plus a ping per checkout and
its result processing. Without that pool (a Store built outside ``Runtime``, or another event
loop) they go straight to the asyncpg connection SQLAlchemy's pool hands out. An in-memory
SQLite (which another connection cannot see) runs them through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from idbroker import json_codec
from idbroker.vault import schema as t
from idbroker.vault.records import Client, ClientGrant, Identity, User

if TYPE_CHECKING:  # asyncpg is imported only on PostgreSQL (start-up time)
    from idbroker.vault.coalesced_reads import Coalescer
    from idbroker.vault.pg_pool import PgPool

# How long an inline read may wait on a locked database (WAL recovery, a checkpoint that
# truncates) before it gives up and the pooled path is used instead.
_BUSY_MS = 200

_USER_COLUMNS = list(t.users.c)
_IDENTITY_COLUMNS = list(t.identities.c)
_CLIENT_COLUMNS = [c for c in t.clients.c if c.name in Client.__dataclass_fields__]
_GRANT_COLUMNS = [t.client_grants.c[n] for n in ("id", "client_id", "audience", "scope")]

# One LEFT JOIN: the user row repeated once per identity (or once with NULLs when it has
# none), identities in the order every reader expects.
def _users_where(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (sa.select(*_USER_COLUMNS, *(c.label(f"i_{c.name}") for c in _IDENTITY_COLUMNS))
            .select_from(t.users.outerjoin(t.identities,
                                           t.identities.c.user_id == t.users.c.user_id))
            .where(*where)
            .order_by(t.identities.c.created_at, t.identities.c.id))


def _clients_where(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(*_CLIENT_COLUMNS).where(*where)


def _grants_where(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(*_GRANT_COLUMNS).where(*where).order_by(t.client_grants.c.created_at)


def _any_of(column: sa.Column[Any]) -> sa.ColumnElement[bool]:
    # VARCHAR[] without the column's length: a cast to VARCHAR(n) would truncate a longer key,
    # which would then match the row whose id is its prefix.
    return column == sa.any_(sa.bindparam(f"{column.name}s", type_=sa.ARRAY(sa.String())))


USER_WITH_IDENTITIES = _users_where(t.users.c.user_id == sa.bindparam("user_id"))
CLIENT = _clients_where(t.clients.c.client_id == sa.bindparam("client_id"))
GRANTS_OF_CLIENT = _grants_where(t.client_grants.c.client_id == sa.bindparam("client_id"))
GRANT_OF_CLIENT_FOR = _grants_where(t.client_grants.c.client_id == sa.bindparam("client_id"),
                                    t.client_grants.c.audience == sa.bindparam("audience"))


# A cached kind's version (vault/client_cache.py); its name second, for the coalesced form.
def _versions_where(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(t.cache_versions.c.version, t.cache_versions.c.name).where(*where)


CACHE_VERSION = _versions_where(t.cache_versions.c.name == sa.bindparam("name"))

_STATEMENTS = (("user", USER_WITH_IDENTITIES), ("client", CLIENT),
               ("grants", GRANTS_OF_CLIENT), ("grant_for", GRANT_OF_CLIENT_FOR),
               ("version", CACHE_VERSION))

# PostgreSQL: the same reads for many keys at once (vault/coalesced_reads.py), each key's rows
# in the same order as above; how to make the statement's arrays from the keys; whose key a
# row is. A grant_for key is (client_id, audience): the statement may return pairs nobody
# asked for, which are dropped.
_GRANT_CLIENT, _GRANT_AUDIENCE = 1, 2
_MANY: dict[str, tuple[sa.Select[Any], Callable[[list[Any]], list[Any]],
                       Callable[[Any], Any]]] = {
    "user": (_users_where(_any_of(t.users.c.user_id)), lambda keys: [keys],
             lambda row: row[0]),
    "client": (_clients_where(_any_of(t.clients.c.client_id)), lambda keys: [keys],
               lambda row: row[_CLIENT_COLUMNS.index(t.clients.c.client_id)]),
    "grants": (_grants_where(_any_of(t.client_grants.c.client_id)), lambda keys: [keys],
               lambda row: row[_GRANT_CLIENT]),
    "grant_for": (_grants_where(_any_of(t.client_grants.c.client_id),
                                _any_of(t.client_grants.c.audience)),
                  lambda keys: [[k[0] for k in keys], [k[1] for k in keys]],
                  lambda row: (row[_GRANT_CLIENT], row[_GRANT_AUDIENCE])),
    "version": (_versions_where(_any_of(t.cache_versions.c.name)), lambda keys: [keys],
                lambda row: row[1]),
}
# The key of one read, from its parameters.
_KEY: dict[str, Callable[[dict[str, Any]], Any]] = {
    "user": lambda p: p["user_id"], "client": lambda p: p["client_id"],
    "grants": lambda p: p["client_id"], "grant_for": lambda p: (p["client_id"], p["audience"]),
    "version": lambda p: p["name"],
}


def _converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    """What turns a raw sqlite3 value into what SQLAlchemy would have returned."""
    if isinstance(column.type, sa.JSON):
        return _json
    if isinstance(column.type, sa.Boolean):
        return lambda v: v if v is None else bool(v)
    return None


def _json(value: Any) -> Any:
    # Most metadata columns hold an empty object or list: no parser needed for those.
    if value == "{}":
        return {}
    if value == "[]":
        return []
    return json_codec.loads(value) if isinstance(value, str | bytes) else value


def _converters(columns: Sequence[sa.Column[Any]]) -> list[tuple[int, Callable[[Any], Any]]]:
    return [(n, conv) for n, c in enumerate(columns) if (conv := _converter(c)) is not None]


_USER_CONV = _converters(_USER_COLUMNS + _IDENTITY_COLUMNS)
_CLIENT_CONV = _converters(_CLIENT_COLUMNS)
_GRANT_CONV = _converters(_GRANT_COLUMNS)
_N_USER = len(_USER_COLUMNS)
_USER_NAMES = [c.name for c in _USER_COLUMNS]
_IDENTITY_NAMES = [c.name for c in _IDENTITY_COLUMNS]
_CLIENT_NAMES = [c.name for c in _CLIENT_COLUMNS]
_GRANT_NAMES = [c.name for c in _GRANT_COLUMNS]


# Records are built positionally (a dict and keyword arguments per row cost more than the
# rest of the conversion): their fields must be the columns, in order.
if [f.name for f in dataclasses.fields(Identity)] != _IDENTITY_NAMES \
        or [f.name for f in dataclasses.fields(User)] != [*_USER_NAMES, "identities"]:
    raise RuntimeError("vault/records.py User/Identity fields no longer match their columns")


def _convert(row: Sequence[Any], conv: list[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    values = list(row)
    for n, fn in conv:
        values[n] = fn(values[n])
    return values


def _user(rows: Sequence[Sequence[Any]], convert: bool) -> User | None:
    if not rows:
        return None
    identities = []
    values: list[Any] = []
    for row in rows:
        values = _convert(row, _USER_CONV) if convert else list(row)
        if values[_N_USER] is not None:  # identities.id: NULL when the user has none
            identities.append(Identity(*values[_N_USER:]))
    return User(*values[:_N_USER], identities)  # type: ignore[arg-type]


def _params_of(name: str, key: Any) -> dict[str, Any]:
    """The parameters of one read from its key (the inverse of ``_KEY``)."""
    if name == "grant_for":
        return {"client_id": key[0], "audience": key[1]}
    if name == "version":
        return {"name": key}
    return {"user_id": key} if name == "user" else {"client_id": key}


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine; None for any other engine, and for ":memory:"
    and "" (private to the connection that made them), which another connection cannot see."""
    url = engine.url
    path = url.database if url.get_backend_name() == "sqlite" else None
    return path if path and path != ":memory:" and not path.startswith("file:") else None


class HotReads:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._path = sqlite_file(engine)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._sql: dict[str, str] = {}
        # PostgreSQL: name → (SQL with $n parameters, parameter names in order).
        self._pg: dict[str, tuple[str, list[str]]] = {}
        self._pg_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()
        self.pg_pool: PgPool | None = None  # set by Runtime.start (use_pool)
        self._coalesced: dict[str, Coalescer] = {}
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
            for name, stmt in _STATEMENTS:
                compiled = stmt.compile(dialect=engine.dialect)
                self._pg[name] = (str(compiled), list(compiled.positiontup or []))
        if self._path is not None:
            dialect = sqlite_dialect(paramstyle="named")
            for name, stmt in _STATEMENTS:
                # Named parameters (:user_id), as sqlite3 takes them from a dict.
                self._sql[name] = str(stmt.compile(dialect=dialect))

    def use_pool(self, pool: PgPool) -> None:
        """Send the PostgreSQL statements through ``pool`` from now on, concurrent reads of
        one kind coalesced into one statement (vault/coalesced_reads.py)."""
        from idbroker.vault.coalesced_reads import Coalescer
        dialect = self.engine.dialect
        # Half the pool per kind at most: the other kinds and the audit writer need some.
        flights = max(1, pool.max_size // 2)
        self._coalesced = {}
        for name, (stmt, arrays, key_of) in _MANY.items():
            self._coalesced[name] = Coalescer(
                pool, str(stmt.compile(dialect=dialect)), arrays=arrays, key_of=key_of,
                single=functools.partial(self._one, name), max_flights=flights)
        self.pg_pool = pool

    @property
    def inline(self) -> bool:
        return self._path is not None

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path or "", isolation_level=None,
                                   check_same_thread=False, cached_statements=16)
            conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            self._opened.append(conn)
        return conn

    def _inline(self, name: str, params: dict[str, Any]) -> list[Any] | None:
        """Rows, or None when the inline read could not run (the caller then pools)."""
        try:
            return self._connection().execute(self._sql[name], params).fetchall()
        except sqlite3.OperationalError:
            return None

    def close(self) -> None:
        for conn in self._opened:
            conn.close()
        self._opened.clear()
        self._local = threading.local()

    async def _pooled(self, stmt: sa.Select[Any], params: dict[str, Any]) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(stmt, params))

    async def _fetch(self, name: str, params: dict[str, Any]) -> list[Any] | None:
        """Rows of a named statement, from the inline SQLite connection or straight from
        asyncpg (raw values: the caller converts them); None: use the SQLAlchemy path."""
        if self._path is not None:
            return self._inline(name, params)
        pg = self._pg.get(name)
        if pg is None:
            return None
        sql, order = pg
        pool = self.pg_pool
        if pool is not None and pool.usable:
            return list(await self._coalesced[name].rows(_KEY[name](params)))
        return await self._engine_fetch(sql, [params[k] for k in order])

    async def _one(self, name: str, key: Any) -> list[Any]:
        """One key read alone: through the hot-path pool while it serves this loop, else (the
        pool closing at shutdown) through SQLAlchemy's."""
        sql, order = self._pg[name]
        params = _params_of(name, key)
        args = [params[k] for k in order]
        pool = self.pg_pool
        if pool is not None and pool.usable:
            return list(await pool.fetch(sql, args))
        return await self._engine_fetch(sql, args)

    async def _engine_fetch(self, sql: str, args: list[Any]) -> list[Any]:
        """Straight to the asyncpg connection SQLAlchemy's pool hands out."""
        async with self._slots():
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                return list(await raw.driver_connection.fetch(sql, *args))

    def _slots(self) -> asyncio.Semaphore:
        """At most the pool's size less two reads at once per event loop: more would take
        overflow connections, which the pool closes on return, so under load every read paid
        for a new PostgreSQL connection (measured: most of a read's CPU). Two stay free for
        the audit writer and other work."""
        loop = asyncio.get_running_loop()
        slots = self._pg_slots.get(loop)
        if slots is None:
            size = getattr(self.engine.sync_engine.pool, "size", lambda: 5)()
            slots = self._pg_slots[loop] = asyncio.Semaphore(max(1, size - 2))
        return slots

    async def user(self, user_id: str) -> User | None:
        rows = await self._fetch("user", {"user_id": user_id})
        if rows is not None:
            return _user(rows, convert=True)
        return _user(await self._pooled(USER_WITH_IDENTITIES, {"user_id": user_id}),
                     convert=False)

    async def cache_version(self, name: str) -> int | None:
        """The version of a cached kind (vault/client_cache.py); None without its row.

        On SQLite, read once per turn of the event loop: a token request asks twice (client,
        then grant), and so may the other requests of the same turn. That is as fresh as a
        read per request. Every request served in this turn arrived before it began, so
        before the read, which sees every commit made before it; a request that arrives
        later is served in a later turn, after the value is forgotten (the ``call_soon``
        below runs before the tasks of requests read in the next turn)."""
        turn: dict[str, int | None] | None = getattr(self._local, "versions", None)
        if turn is not None and name in turn:
            return turn[name]
        rows = await self._fetch("version", {"name": name})
        if rows is None:
            rows = await self._pooled(CACHE_VERSION, {"name": name})
            return rows[0][0] if rows else None
        version = rows[0][0] if rows else None
        if self._path is not None:  # inline: no other request was read while it ran
            if turn is None:
                turn = self._local.versions = {}
            if not turn:
                asyncio.get_running_loop().call_soon(turn.clear)
            turn[name] = version
        return version

    async def client(self, client_id: str) -> Client | None:
        rows = await self._fetch("client", {"client_id": client_id})
        if rows is not None:
            return Client(**dict(zip(_CLIENT_NAMES, _convert(rows[0], _CLIENT_CONV)))) \
                if rows else None
        found = await self._pooled(CLIENT, {"client_id": client_id})
        return Client(**dict(zip(_CLIENT_NAMES, found[0]))) if found else None

    async def client_grants(self, client_id: str, audience: str | None) -> list[ClientGrant]:
        name, stmt = (("grants", GRANTS_OF_CLIENT) if audience is None
                      else ("grant_for", GRANT_OF_CLIENT_FOR))
        params = {"client_id": client_id} if audience is None else {
            "client_id": client_id, "audience": audience}
        rows = await self._fetch(name, params)
        if rows is not None:
            return [ClientGrant(**dict(zip(_GRANT_NAMES, _convert(r, _GRANT_CONV))))
                    for r in rows]
        return [ClientGrant(**dict(zip(_GRANT_NAMES, r)))
                for r in await self._pooled(stmt, params)]
