"""Public identifiers: a readable prefix and enough randomness to be unguessable."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 16) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))
