"""Reading users in bulk: the user search tree (management/user_search.py) compiled to SQL.

Every value reaches the database as a bound parameter. Each term is written so that an index
can serve it: equality and ranges on indexed columns, a prefix as a range (SQLite, binary
collation) or ``LIKE 'abc%'`` (PostgreSQL), identity terms as ``user_id IN (SELECT …)`` over the
identities indexes. Metadata terms read a JSON path; they are not indexed, so they narrow the
rows the other terms select. Each term is also NULL-safe (never UNKNOWN), so ``NOT`` means
"every user the term does not match", users without that attribute included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from idbroker.vault import schema as t
from idbroker.vault.records import Identity, User
from idbroker.vault.store import Store

_USER_COLUMNS = {name: t.users.c[name] for name in (
    "email", "name", "nickname", "given_name", "family_name", "username", "user_id",
    "email_verified", "blocked", "logins_count", "created_at", "updated_at", "last_login")}
_IDENTITY_COLUMNS = {"identities.connection": t.identities.c.connection,
                     "identities.provider": t.identities.c.provider,
                     "identities.user_id": t.identities.c.idp_user_id}
MAX_BY_EMAIL = 100

# --- the search tree (built by management/user_search.py from ``q`` and ``sort``) ---------


@dataclass(frozen=True)
class Term:
    """``field:value``; ``prefix`` for ``value*``; ``value`` None for ``field:*`` (has a
    value). For metadata, ``field`` is ``app_metadata`` or ``user_metadata`` and ``keys`` the
    JSON path below it."""

    field: str
    value: str | int | bool | None
    prefix: bool = False
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Range:
    """A range over an integer or an epoch-milliseconds column; None is unbounded."""

    field: str
    low: int | None
    high: int | None
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    items: tuple[Node, ...]


Node = Union[Term, Range, Not, All, Any_]


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool


@dataclass(frozen=True)
class Page:
    users: list[User]
    total: int | None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix(column: Any, value: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite":
        # SQLite's LIKE ignores ASCII case and does not use an ordinary index; a range over the
        # BINARY collation is exactly "starts with" and does.
        last = ord(value[-1])
        if last < 0x10FFFF:
            following = 0xE000 if last == 0xD7FF else last + 1  # skip the surrogates
            return sa.and_(column >= value, column < value[:-1] + chr(following))
        return sa.and_(column >= value, sa.func.substr(column, 1, len(value)) == value)
    return column.like(_escape_like(value) + "%", escape="\\")


def _metadata_text(root: str, keys: tuple[str, ...], dialect: str) -> Any:
    """The value at the JSON path, as text the way PostgreSQL's ->> spells it."""
    column = t.users.c[root]
    text = column[keys if len(keys) > 1 else keys[0]].as_string()
    if dialect != "sqlite":
        return text
    # SQLite's json_extract gives 1/0 for true/false, which would make "flag:1" match true;
    # json_type names them, so both engines read a boolean as 'true' / 'false'.
    kind = sa.func.json_type(column, "$" + "".join(f'."{k}"' for k in keys))
    return sa.case((kind == "true", "true"), (kind == "false", "false"), else_=text)


def _term(term: Term, dialect: str) -> ColumnElement[bool]:
    value = term.value
    if term.field in _IDENTITY_COLUMNS:
        column = _IDENTITY_COLUMNS[term.field]
        inner = (column.is_not(None) if value is None
                 else _prefix(column, str(value), dialect) if term.prefix else column == value)
        return t.users.c.user_id.in_(sa.select(t.identities.c.user_id).where(inner))
    if term.keys:
        column = _metadata_text(term.field, term.keys, dialect)
    else:
        column = _USER_COLUMNS[term.field]
        if term.field == "email" and isinstance(value, str):
            value = value.lower()  # emails are stored lower-cased
    if value is None:
        return column.is_not(None)
    match = _prefix(column, str(value), dialect) if term.prefix else column == value
    return sa.and_(column.is_not(None), match)


def _range(node: Range) -> ColumnElement[bool]:
    column = _USER_COLUMNS[node.field]
    parts: list[ColumnElement[bool]] = [column.is_not(None)]
    if node.low is not None:
        parts.append(column >= node.low if node.low_inclusive else column > node.low)
    if node.high is not None:
        parts.append(column <= node.high if node.high_inclusive else column < node.high)
    return sa.and_(*parts)


def compile_query(node: Node, dialect: str) -> ColumnElement[bool]:
    if isinstance(node, Term):
        return _term(node, dialect)
    if isinstance(node, Range):
        return _range(node)
    if isinstance(node, Not):
        return sa.not_(compile_query(node.item, dialect))
    if isinstance(node, All):
        return sa.and_(*(compile_query(n, dialect) for n in node.items))
    assert isinstance(node, Any_)
    return sa.or_(*(compile_query(n, dialect) for n in node.items))


def _order(sort: Sort) -> list[Any]:
    column = _USER_COLUMNS[sort.field]
    first = column.desc() if sort.descending else column.asc()
    # NULLs last on both engines (they differ by default), then user_id: a total order, so
    # page N+1 starts exactly where page N ended.
    order = [first.nulls_last()] if sort.field != "user_id" else [first]
    if sort.field != "user_id":
        order.append(t.users.c.user_id.desc() if sort.descending else t.users.c.user_id.asc())
    return order


async def _with_identities(conn: Any, rows: list[Any]) -> list[User]:
    ids = [row.user_id for row in rows]
    owned: dict[str, list[Identity]] = {user_id: [] for user_id in ids}
    if ids:
        found = await conn.execute(sa.select(t.identities).where(
            t.identities.c.user_id.in_(ids)).order_by(t.identities.c.created_at,
                                                      t.identities.c.id))
        for row in found:
            owned[row.user_id].append(Identity(**row._mapping))
    return [User(**row._mapping, identities=owned[row.user_id]) for row in rows]


async def search_users(store: Store, query: Node | None, *, extra: Node | None, sort: Sort,
                       offset: int, limit: int, with_total: bool) -> Page:
    dialect = store.engine.dialect.name
    conditions = [compile_query(n, dialect) for n in (query, extra) if n is not None]
    where = sa.and_(sa.true(), *conditions)
    select = (sa.select(t.users).where(where).order_by(*_order(sort))
              .offset(offset).limit(limit))
    async with store.engine.connect() as conn:
        rows = list(await conn.execute(select))
        users = await _with_identities(conn, rows)
        total = None
        if with_total:
            total = (await conn.execute(
                sa.select(sa.func.count()).select_from(t.users).where(where))).scalar_one()
    return Page(users, total)


async def users_by_email(store: Store, email: str) -> list[User]:
    select = (sa.select(t.users).where(t.users.c.email == email.lower())
              .order_by(t.users.c.created_at, t.users.c.user_id).limit(MAX_BY_EMAIL))
    async with store.engine.connect() as conn:
        rows = list(await conn.execute(select))
        return await _with_identities(conn, rows)
