"""Vault tests run with the key ring in a key file (what `idbroker init` creates), so that
`idbroker vault rotate-key` can change it and running processes can follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from idbroker.settings import Settings
from idbroker.vault.keyfile import create_key_file
from tests.conftest import PG_URL, _reset_postgres
from tests.support import ISSUER


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    if PG_URL:
        await _reset_postgres(PG_URL)
    data = tmp_path / "data"
    assert create_key_file(data / "vault.key")
    return Settings(issuer=ISSUER, data_dir=data, database_url=PG_URL, vault_key=None,
                    upstream_timeout=2.0)
