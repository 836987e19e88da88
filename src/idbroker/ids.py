"""Public identifiers: a readable prefix and enough randomness to be unguessable."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Bytes below 248 (= 4 × 62) map uniformly onto the alphabet; the rest ("!") are dropped and
# drawn again. One urandom call and two C-level passes per id, not a urandom call per
# character (secrets.choice): this runs for every audit record.
_UNIFORM_BELOW = 256 - 256 % len(_ALPHABET)
_TABLE = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) if b < _UNIFORM_BELOW else ord("!")
               for b in range(256))


def new_id(prefix: str, length: int = 16) -> str:
    drawn = b""
    while len(drawn) < length:
        drawn += secrets.token_bytes(length + 8).translate(_TABLE).replace(b"!", b"")
    return prefix + drawn[:length].decode("ascii")
