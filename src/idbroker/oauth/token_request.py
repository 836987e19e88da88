"""The token endpoint's body, parsed once: JSON or form, ``null`` and ``""`` as absent.

auth0-python sends JSON with explicit nulls; spa-js and httpx-based clients send forms.
Every value must be a string; every form parameter may appear once (RFC 6749 §3.2).
"""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

from idbroker.errors import InvalidRequest

MAX_VALUE_CHARS = 8192
MAX_FIELDS = 200


def parse_body(content_type: str, body: bytes) -> dict[str, str]:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequest("the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise InvalidRequest("the body must be a JSON object")
        pairs = list(data.items())
    elif media == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
            pairs = _form_pairs(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequest("the body is not a valid form") from exc
    else:
        raise InvalidRequest("send application/x-www-form-urlencoded or application/json")
    params: dict[str, str] = {}
    for key, value in pairs:
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidRequest(f"parameter {str(key)[:40]} must be a string")
        if key in params:
            raise InvalidRequest(f"parameter {key[:40]} appears more than once")
        if len(value) > MAX_VALUE_CHARS or "\x00" in value:
            raise InvalidRequest(f"parameter {key[:40]} is invalid")
        params[key] = value
    return params


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)``, unquoting only
    the names and values that need it: the same pairs at a third of the cost (parse_qsl was a
    tenth of a token request's CPU besides the signature)."""
    if text.count("&") >= MAX_FIELDS:
        raise ValueError("Max number of fields exceeded")
    pairs = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            if "%" in name or "+" in name:
                name = unquote_plus(name, errors="replace")
            if "%" in value or "+" in value:
                value = unquote_plus(value, errors="replace")
            pairs.append((name, value))
    return pairs
