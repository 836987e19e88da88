"""The start-up check "is the database at head?" reads the migration scripts without Alembic
(vault/db.py); it must name exactly the heads Alembic itself finds."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from idbroker.vault.db import MIGRATIONS, script_heads


def test_script_heads_are_alembics_heads() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert script_heads() == frozenset(ScriptDirectory.from_config(config).get_heads())
