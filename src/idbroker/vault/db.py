"""Engines and migrations for the two supported stores: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL advisory-lock keys (any 64-bit integers, fixed): one serialises whole start-ups
# (schema, first signing key, bootstrap client), the other each migration run.
_STARTUP_LOCK = 0x1DB0_0001
_MIGRATION_LOCK = 0x1DB0_0002


# Once a checkpoint has rewound the write-ahead log, the next commit cuts its file back to this
# size (vault/audit_writer.py makes sure the rewind happens under steady load too).
WAL_SIZE_LIMIT = 16 * 1024 * 1024


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; NORMAL is durable under WAL
    # against process crashes, which is the failure an embedded store must survive.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def sqlite_thread_engine(engine: AsyncEngine) -> sa.Engine | None:
    """A plain (blocking) engine on the same SQLite file, for the store's multi-statement
    writes run whole in one worker thread (vault/store_base.py ``Store._in_thread``); None for
    PostgreSQL and for an in-memory database, which another engine would not see."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") \
            or "memory" in str(url.query.get("mode", "")):
        return None
    sync = sa.create_engine(url.set(drivername="sqlite"), connect_args={"timeout": 30})
    sa.event.listen(sync, "connect", _sqlite_pragmas)
    return sync


def _alembic_config(connection: sa.Connection) -> Config:
    # Alembic is imported only when a migration may be needed: importing it is a good part
    # of a worker's start-up, and a database at head needs none of it (_at_head).
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection) -> None:
    from alembic import command
    command.upgrade(_alembic_config(connection), "head")


def _pending(connection: sa.Connection) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    script = ScriptDirectory.from_config(_alembic_config(connection))
    current = MigrationContext.configure(connection).get_current_heads()
    return set(current) != set(script.get_heads())


_REVISION = re.compile(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.M)


def script_heads() -> frozenset[str] | None:
    """The head revisions of the migration scripts, read from their source without
    importing Alembic; None when a script is not in the plain form this reads (then Alembic
    decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text("utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = frozenset(revisions - parents)
    return heads or None


async def _at_head(conn: AsyncConnection) -> bool:
    heads = script_heads()
    if heads is None:
        return False
    exists = sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                     "'alembic_version'" if conn.dialect.name == "sqlite"
                     else "SELECT to_regclass('alembic_version') IS NOT NULL")
    if not (await conn.execute(exists)).scalar():
        return False  # a new database
    rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
    return frozenset(r[0] for r in rows) == heads


async def migrate(engine: AsyncEngine) -> bool:
    """Apply every pending migration; return True when something was applied.

    On PostgreSQL several processes may start at once against one database: a transaction
    advisory lock makes the others wait, then find nothing pending."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _MIGRATION_LOCK})
        if await _at_head(conn):
            return False
        pending = await conn.run_sync(_pending)
        if pending:
            await conn.run_sync(_upgrade)
    return pending


@contextlib.asynccontextmanager
async def startup_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Held while a process creates what must exist once (schema, first signing key,
    bootstrap client), so two processes starting at once against one PostgreSQL do not both
    create them. A session advisory lock on a connection of its own; PostgreSQL releases it
    if the process dies. SQLite needs none: it is one machine's file and serialises writers."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _STARTUP_LOCK})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"),
                               {"key": _STARTUP_LOCK})
            await conn.commit()


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (readiness checks); raises if it cannot be reached."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
