"""Public identifiers: a readable prefix and enough randomness to be unguessable."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Bytes below 248 (= 4 × 62) map uniformly onto the alphabet; the rest are drawn again.
_UNIFORM_BELOW = 256 - 256 % len(_ALPHABET)


def new_id(prefix: str, length: int = 16) -> str:
    # One urandom call per id, not one per character (secrets.choice): this runs for every
    # audit record.
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(_ALPHABET[b % len(_ALPHABET)]
                     for b in secrets.token_bytes(length + 8) if b < _UNIFORM_BELOW)
    return prefix + "".join(chars[:length])
