"""Where the vault key comes from: a setting, or a key file only its owner can read."""

from __future__ import annotations

import os
from pathlib import Path

from idbroker.errors import ConfigurationError
from idbroker.settings import Settings
from idbroker.encoding import b64url_decode, b64url_encode
from idbroker.vault.keyring_file import KeyFileRing


def _decode(text: str, source: str) -> bytes:
    try:
        key = b64url_decode(text.strip())
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not base64url") from exc
    if len(key) != 32:
        raise ConfigurationError(f"{source} must decode to 32 bytes")
    return key


def create_key_file(path: Path) -> bool:
    """Create the key file with mode 0600; return False when it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(b64url_encode(os.urandom(32)) + "\n")
    return True


def load_vault_keys(settings: Settings) -> list[bytes]:
    """The key ring, newest first. Comma-separated values allow rotation: new,old,..."""
    if settings.vault_key is not None:
        raw = settings.vault_key.get_secret_value()
        return [_decode(part, "IDBROKER_VAULT_KEY") for part in raw.split(",") if part.strip()]
    path = settings.resolved_vault_key_file
    if not path.exists():
        raise ConfigurationError(
            f"no vault key: set IDBROKER_VAULT_KEY or run `idbroker init` to create {path}"
        )
    # A ring from the file follows the file: see Vault and vault/keyring_file.py.
    return KeyFileRing(path)
