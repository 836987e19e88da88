"""JSON on the hot paths: orjson (several times faster than the standard library at both
ends), with the standard library for what orjson cannot do exactly: integers beyond 64 bits,
which a user's metadata may hold (orjson refuses to write them, and reads them as floats,
losing digits). Either way the same value comes out, so callers never see which one ran."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson


# 19 digits in a row may be an integer orjson would turn into a float (2**63 has 19).
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_B = re.compile(rb"[0-9]{19}")


def loads(raw: bytes | str) -> Any:
    long_digits = _LONG_DIGITS_B if isinstance(raw, bytes) else _LONG_DIGITS
    if long_digits.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)  # raises the standard ValueError for what is not JSON at all


def dumps(value: Any) -> bytes:
    """Compact UTF-8, as Starlette's JSONResponse renders it."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a non-str key
        return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8")
