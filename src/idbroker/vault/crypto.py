"""AEAD for third-party credentials and keyed hashes for our own.

IdP tokens are sealed with AES-256-GCM. The associated data names the row a ciphertext
belongs to, so a ciphertext copied into another row (another user, another identity) fails
to open instead of silently handing one user's tokens to another.

Our own authorization codes, refresh tokens, login states and client secrets are random,
high-entropy values: we keep only an HMAC-SHA-256 of each, keyed by a key derived from the
vault key. A slow password hash would add nothing against guessing a 256-bit value, and would
make every token request pay for it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idbroker.encoding import b64url_encode
from idbroker.errors import VaultError

_FORMAT_VERSION = 1
_NONCE_BYTES = 12
# How often a key-file ring is checked for a new sealing key (a stat call, no read).
_RECHECK_S = 5.0


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def key_id_for(key: bytes) -> str:
    """A public name for a key that reveals nothing about it."""
    return hashlib.sha256(b"idbroker-vault-key-id" + key).hexdigest()[:12]


class Vault:
    """A key ring: the first key seals, every key opens (so keys can be rotated).

    A ring loaded from the key file carries a ``reload_if_changed`` method
    (vault/keyring_file.py): a running process then picks up a key that
    ``idbroker vault rotate-key`` added — at once when it meets a ciphertext sealed under a key
    it does not know, and within ``_RECHECK_S`` for sealing — without a restart. Keys it
    already holds are never dropped by a reload, so in-flight work always opens.
    """

    def __init__(self, keys: list[bytes]) -> None:
        self._source = getattr(keys, "reload_if_changed", None)
        self._checked_at = time.monotonic()
        self._install(list(keys))

    def _install(self, keys: list[bytes]) -> None:
        if not keys:
            raise VaultError("no vault key", detail="the key ring is empty")
        for key in keys:
            if len(key) != 32:
                raise VaultError("invalid vault key", detail="vault keys are 32 bytes")
        self._keys = keys
        self._ring = {key_id_for(k): AESGCM(k) for k in keys}
        self.current_key_id = key_id_for(keys[0])
        # One HMAC key per vault key: after a rotation, digests made under the old key must
        # still be found (client secrets, refresh tokens), so lookups try every key. Each
        # digest names its key (``kid.mac``) so `idbroker vault retire-key` can tell whether
        # an old key still verifies a live secret.
        self._hmac_keys = [
            (key_id_for(key), HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                   info=b"idbroker/hmac/v1").derive(key)) for key in keys
        ]

    @property
    def key_ids(self) -> list[str]:
        """The ring's key ids, the sealing key first."""
        return [key_id_for(k) for k in self._keys]

    def reload(self, *, force: bool = False) -> bool:
        """Adopt the key source's current ring if it changed; return True when it did."""
        if self._source is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked_at < _RECHECK_S:
            return False
        self._checked_at = now
        fresh = self._source()
        if not fresh:
            return False
        known = {key_id_for(k) for k in fresh}
        self._install(list(fresh) + [k for k in self._keys if key_id_for(k) not in known])
        return True

    def seal(self, plaintext: bytes, associated_data: str) -> bytes:
        self.reload()
        nonce = os.urandom(_NONCE_BYTES)
        kid = self.current_key_id.encode("ascii")
        body = self._ring[self.current_key_id].encrypt(nonce, plaintext, associated_data.encode())
        return bytes([_FORMAT_VERSION, len(kid)]) + kid + nonce + body

    def open(self, blob: bytes, associated_data: str) -> bytes:
        try:
            if blob[0] != _FORMAT_VERSION:
                raise VaultError(detail="unknown ciphertext format")
            kid_len = blob[1]
            kid = blob[2 : 2 + kid_len].decode("ascii")
            nonce = blob[2 + kid_len : 2 + kid_len + _NONCE_BYTES]
            body = blob[2 + kid_len + _NONCE_BYTES :]
            cipher = self._ring.get(kid)
            if cipher is None and self.reload(force=True):
                cipher = self._ring.get(kid)
            if cipher is None:
                raise VaultError(detail=f"ciphertext sealed under unknown vault key {kid}")
            return cipher.decrypt(nonce, body, associated_data.encode())
        except InvalidTag as exc:
            raise VaultError(detail="authentication tag mismatch (wrong row or tampered)") from exc
        except (IndexError, UnicodeDecodeError) as exc:
            raise VaultError(detail="truncated ciphertext") from exc

    def digest(self, purpose: str, value: str) -> str:
        """Keyed hash of one of our own secrets; ``purpose`` separates the namespaces."""
        self.reload()
        return self._digest(self._hmac_keys[0], purpose, value)

    def digests(self, purpose: str, value: str) -> list[str]:
        """The digest under every key of the ring, current key first (for lookups)."""
        return [self._digest(key, purpose, value) for key in self._hmac_keys]

    def verify_digest(self, purpose: str, value: str, expected: str) -> bool:
        matches = [hmac.compare_digest(d, expected) for d in self.digests(purpose, value)]
        return any(matches)

    @staticmethod
    def _digest(key: tuple[str, bytes], purpose: str, value: str) -> str:
        kid, secret = key
        mac = hmac.new(secret, f"{purpose}\x00{value}".encode(), hashlib.sha256)
        return f"{kid}.{b64url_encode(mac.digest())}"


def sealed_key_id(blob: bytes) -> str | None:
    """The id of the key a ciphertext was sealed under (its header says so), or None."""
    if len(blob) < 2 or blob[0] != _FORMAT_VERSION:
        return None
    try:
        return blob[2 : 2 + blob[1]].decode("ascii")
    except UnicodeDecodeError:
        return None


def sealed_header(key_id: str) -> bytes:
    """The first bytes of every ciphertext sealed under ``key_id``."""
    kid = key_id.encode("ascii")
    return bytes([_FORMAT_VERSION, len(kid)]) + kid


def digest_key_id(digest: str) -> str | None:
    """The id of the key a digest was made under."""
    kid, sep, _ = digest.partition(".")
    return kid if sep else None
