"""Rules for JSON values that arrive from the network, shared by every layer that takes them
(the Management API, database sign-ups, request bodies): it imports nothing of the project."""

from __future__ import annotations

import json
from typing import Any

MAX_METADATA_BYTES = 16_384


def has_nul(value: Any) -> bool:
    """PostgreSQL refuses NUL in text; refused up front rather than failing at the insert."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def metadata_problem(value: dict[str, Any]) -> str | None:
    """What is wrong with ``user_metadata`` / ``app_metadata`` under Auth0's rule, or None.
    The key rule also keeps ``app_metadata.<key>`` search paths unambiguous."""
    for key in value:
        if not key or "." in key or key.startswith("$") or len(key) > 64:
            return "keys must be 1-64 characters, without '.' and not starting with '$'"
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        return f"must be at most {MAX_METADATA_BYTES} bytes of JSON"
    return None
