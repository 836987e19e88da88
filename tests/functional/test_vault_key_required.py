"""E4: a missing or wrong vault key stops the process; it never writes plaintext and never
quietly makes a new key over data sealed under another."""

from __future__ import annotations

import secrets

import pytest

from idbroker.encoding import b64url_encode
from idbroker.errors import ConfigurationError, VaultError
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from tests.support import Broker


async def test_wrong_or_missing_key_fails_closed(broker: Broker) -> None:
    before = await broker.runtime.store.list_signing_keys()
    settings = broker.runtime.settings
    wrong = settings.model_copy(update={
        "vault_key": type(settings.vault_key)(b64url_encode(secrets.token_bytes(32)))})
    with pytest.raises(VaultError):
        await Runtime.start(wrong, http=broker.runtime.http)
    missing = settings.model_copy(update={"vault_key": None})
    with pytest.raises(ConfigurationError):
        await Runtime.start(missing, http=broker.runtime.http)
    assert [k.kid for k in await broker.runtime.store.list_signing_keys()] == [
        k.kid for k in before]


def test_key_file_readable_by_others_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from idbroker.vault.keyfile import create_key_file, load_vault_keys

    path = tmp_path / "vault.key"
    assert create_key_file(path)
    path.chmod(0o644)
    with pytest.raises(ConfigurationError):
        load_vault_keys(Settings(data_dir=tmp_path, vault_key_file=path))
