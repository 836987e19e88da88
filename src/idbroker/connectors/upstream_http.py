"""Calls to an upstream IdP, with every failure turned into a typed upstream error.

Nothing an upstream sends is trusted: the body must be JSON of the expected shape and of
bounded size, and an upstream's error text is never shown to anyone (it could echo a token).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from idbroker.errors import (
    UpstreamDenied, UpstreamProtocolError, UpstreamTokenRejected, UpstreamUnavailable,
)

MAX_BODY_BYTES = 512 * 1024
MAX_RETRY_AFTER_S = 86_400.0


def client_auth(method: str, client_id: str, client_secret: str | None,
                data: dict[str, str]) -> httpx.BasicAuth | None:
    """RFC 6749 §2.3.1: Basic with form-encoded credentials, or the credentials in the body."""
    if method == "client_secret_post" or client_secret is None:
        data["client_id"] = client_id
        if client_secret is not None:
            data["client_secret"] = client_secret
        return None
    return httpx.BasicAuth(quote(client_id, safe=""), quote(client_secret, safe=""))


async def request_json(client: httpx.AsyncClient, method: str, url: str, *, what: str,
                       timeout: float, data: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None,
                       auth: httpx.Auth | None = None) -> dict[str, Any]:
    try:
        # httpx timeouts bound each socket operation; the outer deadline bounds the whole
        # exchange, so an upstream that drips bytes cannot hold a login open.
        async with asyncio.timeout(timeout):
            response = await client.request(method, url, data=data, headers={
                "Accept": "application/json", **(headers or {})}, auth=auth, timeout=timeout)
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise UpstreamUnavailable(detail=f"{what}: timeout") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(detail=f"{what}: {type(exc).__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise UpstreamUnavailable(detail=f"{what}: HTTP {response.status_code}")
    body = _json_object(response, what)
    if response.status_code >= 400:
        error = body.get("error") if body else None
        if error == "invalid_grant":
            raise UpstreamTokenRejected(detail=f"{what}: invalid_grant")
        if error in ("access_denied", "invalid_token", "unauthorized_client"):
            raise UpstreamDenied(detail=f"{what}: {error}")
        raise UpstreamProtocolError(
            detail=f"{what}: HTTP {response.status_code} error={str(error)[:64]!r}")
    if body is None:
        raise UpstreamProtocolError(detail=f"{what}: response is not a JSON object")
    return body


def _json_object(response: httpx.Response, what: str) -> dict[str, Any] | None:
    if len(response.content) > MAX_BODY_BYTES:
        raise UpstreamProtocolError(detail=f"{what}: response too large")
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def retry_after(value: str | None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date; capped at a day, never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER_S)
