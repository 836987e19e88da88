"""The migrations create exactly the tables the code declares, on a fresh database."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from idbroker.vault.db import create_engine, migrate
from idbroker.vault.schema import metadata


async def test_migrations_match_the_declared_schema_and_are_idempotent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        assert await migrate(engine) is True
        assert await migrate(engine) is False

        def diff(conn: sa.Connection) -> list:
            return compare_metadata(MigrationContext.configure(conn), metadata)

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            mode = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar()
        assert mode == "wal"
    finally:
        await engine.dispose()
