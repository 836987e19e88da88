"""Users in bulk: the SQL of `idbroker users import` and `idbroker users export`.

Import writes a batch of users, each with one identity, in one transaction, with one
multi-row write per table (a binary ``COPY`` on PostgreSQL, ``executemany`` on SQLite). Existing accounts are found first, by user_id and by the identity's
(connection, issuer, subject), so a re-import skips or updates them instead of failing the
batch. Export pages through users by user_id (keyset), never holding more than a page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from idbroker.vault import schema as t
from idbroker.vault.records import Identity, TokenSet, User
from idbroker.vault.store import Store

# Bound parameters per IN (...) list: well under SQLite's 32,766 and asyncpg's 32,767.
_IN_CHUNK = 2_000
_USER_UPDATE_COLUMNS = ("email", "email_verified", "username", "name", "given_name",
                        "family_name", "nickname", "picture", "blocked", "app_metadata",
                        "user_metadata", "updated_at")


@dataclass(slots=True)
class NewAccount:
    """One user and its one identity, ready to write. ``tokens`` is sealed on write."""

    user: dict[str, Any]  # users columns
    identity: dict[str, Any]  # identities columns without tokens
    tokens: TokenSet | None = field(default=None, repr=False)
    # A database-connection account's password_credentials row (its hash already made).
    credential: dict[str, Any] | None = field(default=None, repr=False)
    # False: the record had no hash; an upsert then keeps the stored one.
    password_given: bool = False


@dataclass(slots=True)
class BatchResult:
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    # (position in the batch, message) of accounts that cannot be written.
    conflicts: list[tuple[int, str]] = field(default_factory=list)


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i:i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]


def _token_columns(store: Store, identity_id: str, tokens: TokenSet | None) -> dict[str, Any]:
    if tokens is None:
        return {"tokens_sealed": None, "token_expires_at": None, "granted_scopes": [],
                "token_status": "none"}
    # Sealed exactly as a login seals them: bound to the identity row by its id.
    return store._sealed_tokens(identity_id, tokens)


async def write_batch(store: Store, accounts: list[NewAccount], *, connection_id: str,
                      issuer: str, upsert: bool, all_or_nothing: bool = False) -> BatchResult:
    """Write ``accounts`` (all of one connection and upstream issuer) in one transaction.

    An account whose user_id or upstream subject already exists is skipped, or with ``upsert``
    updated: root profile and metadata replaced, tokens replaced when the record has some.
    An upstream subject stored under another user_id (e.g. linked to another user) is a
    conflict, reported and not written; with ``all_or_nothing`` a conflict means nothing of
    the batch is written.
    """
    result = BatchResult()
    user_ids = [a.user["user_id"] for a in accounts]
    subjects = [a.identity["subject"] for a in accounts]
    async with store.engine.begin() as conn:
        existing_users: set[str] = set()
        for chunk in _chunks(user_ids):
            existing_users.update((await conn.execute(sa.select(t.users.c.user_id).where(
                t.users.c.user_id.in_(chunk)))).scalars())
        by_subject: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(subjects):
            rows = await conn.execute(sa.select(
                t.identities.c.subject, t.identities.c.id, t.identities.c.user_id).where(
                t.identities.c.connection_id == connection_id,
                t.identities.c.issuer == issuer, t.identities.c.subject.in_(chunk)))
            by_subject.update({r.subject: (r.id, r.user_id) for r in rows})
        # A database connection's login identifiers are unique per connection.
        holders: dict[str, str] = {}
        for key in ("email", "username"):
            values = [a.credential[key] for a in accounts
                      if a.credential is not None and a.credential[key] is not None]
            column = t.password_credentials.c[key]
            for chunk in _chunks(values):
                rows = await conn.execute(sa.select(column, t.password_credentials.c.user_id)
                                          .where(t.password_credentials.c.connection_id
                                                 == connection_id, column.in_(chunk)))
                holders.update({f"{key}:{r[0]}": r[1] for r in rows})

        new_users: list[dict[str, Any]] = []
        new_identities: list[dict[str, Any]] = []
        new_credentials: list[dict[str, Any]] = []
        credential_updates: list[dict[str, Any]] = []
        user_updates: list[dict[str, Any]] = []
        token_updates: list[dict[str, Any]] = []
        for position, account in enumerate(accounts):
            user_id = account.user["user_id"]
            found = by_subject.get(account.identity["subject"])
            if found is not None and found[1] != user_id:
                result.conflicts.append((position, f"the upstream account is already stored "
                                                   f"under user_id {found[1]}"))
                continue
            taken = _taken_identifier(account, holders)
            if taken:
                result.conflicts.append((position, taken))
                continue
            if user_id in existing_users or found is not None:
                if found is None:
                    result.conflicts.append((position, "user_id exists without an identity of "
                                                       "this connection"))
                    continue
                if not upsert:
                    result.skipped += 1
                    continue
                user_updates.append({"b_user_id": user_id, **{
                    k: account.user[k] for k in _USER_UPDATE_COLUMNS}})
                if account.tokens is not None:
                    token_updates.append({"b_id": found[0], "updated_at": account.user[
                        "updated_at"], **_token_columns(store, found[0], account.tokens)})
                if account.credential is not None:
                    change = {k: account.credential[k] for k in ("email", "username",
                                                                 "updated_at")}
                    if account.password_given:
                        change["password_hash"] = account.credential["password_hash"]
                    credential_updates.append({"b_user_id": user_id, **change})
                result.updated += 1
                continue
            if account.credential is not None:
                new_credentials.append(account.credential)
            new_users.append(account.user)
            new_identities.append({**account.identity, **_token_columns(
                store, account.identity["id"], account.tokens)})
            result.inserted += 1
        if result.conflicts and all_or_nothing:
            return BatchResult(conflicts=result.conflicts)
        if new_users:
            await _insert_many(conn, t.users, new_users)
            await _insert_many(conn, t.identities, new_identities)
        if new_credentials:
            await _insert_many(conn, t.password_credentials, new_credentials)
        if user_updates:
            # executemany: the SET columns are the keys of the parameter dicts.
            await conn.execute(t.users.update().where(
                t.users.c.user_id == sa.bindparam("b_user_id")), user_updates)
        # Grouped by the columns they set (executemany needs one shape per statement).
        for shape in {tuple(sorted(u)) for u in credential_updates}:
            await conn.execute(t.password_credentials.update().where(
                t.password_credentials.c.user_id == sa.bindparam("b_user_id"),
                t.password_credentials.c.connection_id == connection_id),
                [u for u in credential_updates if tuple(sorted(u)) == shape])
        if token_updates:
            await conn.execute(t.identities.update().where(
                t.identities.c.id == sa.bindparam("b_id")), token_updates)
            # New tokens: forget refresh failures and fence out an in-flight refresh of the
            # old grant, as a login does (vault/login_store.py record_login).
            for chunk in _chunks([u["b_id"] for u in token_updates]):
                await conn.execute(t.identity_refresh.delete().where(
                    t.identity_refresh.c.identity_id.in_(chunk)))
    return result


def _taken_identifier(account: NewAccount, holders: dict[str, str]) -> str | None:
    if account.credential is None:
        return None
    for key in ("email", "username"):
        value = account.credential[key]
        holder = holders.get(f"{key}:{value}") if value is not None else None
        if holder is not None and holder != account.user["user_id"]:
            return f"the {key} is already used by user_id {holder} in this connection"
    return None


# The tables each batch looks rows up in, by key, before it writes.
_LOOKED_UP = (t.users.name, t.identities.name, t.password_credentials.name)


async def keep_statistics(store: Store, batches_written: int) -> None:
    """On PostgreSQL, ANALYZE the tables a batch looks up after batch 1, 2, 4, 8, … of an
    import. An import into empty tables runs ahead of autovacuum (or autovacuum is off): with
    the statistics of empty tables the planner answered each batch's existence checks by
    reading every row so far, and a 1,000,000-user import that takes minutes slowed to
    ~300 users/s at 160,000 and kept slowing, quadratic in the number of users
    (docs/performance.md). Doubling intervals keep the statistics within 2× of the truth for
    about 20 ANALYZEs per million users, well under a second each."""
    if store.engine.dialect.name != "postgresql" or batches_written & (batches_written - 1):
        return
    async with store.engine.begin() as conn:
        await conn.execute(sa.text(f"ANALYZE {', '.join(_LOOKED_UP)}"))


async def _insert_many(conn: AsyncConnection, table: sa.Table,
                       rows: list[dict[str, Any]]) -> None:
    """One multi-row insert inside the batch's transaction: on PostgreSQL a binary COPY
    (several times faster than a multi-row INSERT), on SQLite the driver's executemany."""
    columns = list(rows[0])
    as_json = {c for c in columns if isinstance(table.c[c].type, sa.JSON)}
    records = [tuple(json.dumps(row[c]) if c in as_json and row[c] is not None else row[c]
                     for c in columns) for row in rows]
    if conn.dialect.name != "postgresql":
        # The driver's executemany with values already in their stored form: SQLAlchemy's
        # per-row parameter processing was a quarter of an import's CPU.
        marks = ", ".join("?" for _ in columns)
        await conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", records)
        return
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=records, columns=columns)


async def iter_users(store: Store, *, connection: str | None = None,
                     page: int = 1_000) -> AsyncIterator[User]:
    """Every user (with identities, tokens left sealed), ordered by user_id; with
    ``connection``, only users holding an identity of that connection."""
    after: str | None = None
    while True:
        query = sa.select(t.users).order_by(t.users.c.user_id).limit(page)
        if after is not None:
            query = query.where(t.users.c.user_id > after)
        if connection is not None:
            query = query.where(t.users.c.user_id.in_(sa.select(t.identities.c.user_id).where(
                t.identities.c.connection == connection)))
        async with store.engine.connect() as conn:
            users = (await conn.execute(query)).all()
            if not users:
                return
            ids = [u.user_id for u in users]
            identities: dict[str, list[Identity]] = {}
            rows = await conn.execute(sa.select(t.identities).where(
                t.identities.c.user_id.in_(ids)).order_by(
                t.identities.c.user_id, t.identities.c.created_at, t.identities.c.id))
            for row in rows:
                identities.setdefault(row.user_id, []).append(Identity(**row._mapping))
        for row in users:
            yield User(**row._mapping, identities=identities.get(row.user_id, []))
        after = ids[-1]
