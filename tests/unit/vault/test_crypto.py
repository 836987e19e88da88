"""The AEAD vault and keyed digests."""

from __future__ import annotations

import os

import pytest

from idbroker.errors import VaultError
from idbroker.vault.crypto import Vault


def test_seal_open_round_trip_and_binding() -> None:
    vault = Vault([os.urandom(32)])
    blob = vault.seal(b"ya29.secret", "row-1")
    assert b"ya29.secret" not in blob
    assert vault.open(blob, "row-1") == b"ya29.secret"
    with pytest.raises(VaultError):
        vault.open(blob, "row-2")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(VaultError):
        vault.open(tampered, "row-1")
    with pytest.raises(VaultError):
        vault.open(blob[:5], "row-1")


def test_key_rotation_opens_old_ciphertexts_and_seals_with_the_new_key() -> None:
    old, new = os.urandom(32), os.urandom(32)
    blob = Vault([old]).seal(b"token", "r")
    ring = Vault([new, old])
    assert ring.open(blob, "r") == b"token"
    assert Vault([new]).open(ring.seal(b"token", "r"), "r") == b"token"
    with pytest.raises(VaultError):
        Vault([new]).open(blob, "r")


def test_digests_are_keyed_and_separated_by_purpose() -> None:
    vault = Vault([os.urandom(32)])
    other = Vault([os.urandom(32)])
    assert vault.digest("code", "x") != other.digest("code", "x")
    assert vault.digest("code", "x") != vault.digest("refresh", "x")
    assert vault.verify_digest("code", "x", vault.digest("code", "x"))
    with pytest.raises(VaultError):
        Vault([b"short"])
