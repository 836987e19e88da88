"""Reading requests safely: bounded bodies, the caller's address, JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from idbroker.errors import BadRequest, InvalidRequest
from idbroker.json_values import has_nul


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
        raise InvalidRequest("the request body is too large")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise InvalidRequest("the request body is too large")
    return bytes(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """A Management API body: JSON only, with Auth0's error shape when it is not."""
    try:
        raw = await read_body(request, limit)
    except InvalidRequest as exc:
        raise BadRequest("Payload too large", error_code="invalid_body") from exc
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise BadRequest("Content-Type must be application/json", error_code="invalid_body")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest("Invalid JSON body", error_code="invalid_body") from exc
    if has_nul(body):
        # PostgreSQL cannot store U+0000 in text; no identifier or name legitimately has one.
        raise BadRequest("Payload validation error: NUL characters are not allowed",
                         error_code="invalid_body")
    return body


def client_ip(request: Request) -> str | None:
    # Forwarded headers are not trusted: anyone can send them (see docs/security.md).
    return request.client.host if request.client else None
