"""Small helpers for provider connectors that do not speak plain RFC 6749 / 7009 / 7662:
one bounded HTTP call, its failures typed, and nothing of the request or response (which may
hold a token) in any message."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from idbroker.connectors.upstream_http import MAX_BODY_BYTES
from idbroker.errors import UpstreamProtocolError, UpstreamUnavailable


async def send(http: httpx.AsyncClient, method: str, url: str, *, what: str, timeout: float,
               params: Mapping[str, str] | None = None, data: Mapping[str, str] | None = None,
               json: Any = None, headers: Mapping[str, str] | None = None,
               auth: httpx.Auth | None = None) -> httpx.Response:
    """The response, whatever its status; transport failures raise UpstreamUnavailable."""
    if timeout <= 0:
        raise UpstreamUnavailable(detail=f"{what}: no time left")
    try:
        async with asyncio.timeout(timeout):
            return await http.request(method, url, params=params, data=data, json=json,
                                      headers={"Accept": "application/json", **(headers or {})},
                                      auth=auth, timeout=timeout)
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise UpstreamUnavailable(detail=f"{what}: timeout") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(detail=f"{what}: {type(exc).__name__}") from exc


def body_of(response: httpx.Response, what: str) -> Any:
    """The parsed JSON body (any JSON value), or None when there is none."""
    if len(response.content) > MAX_BODY_BYTES:
        raise UpstreamProtocolError(detail=f"{what}: response too large")
    try:
        return response.json()
    except ValueError:
        return None


def object_of(response: httpx.Response, what: str) -> dict[str, Any]:
    body = body_of(response, what)
    if not isinstance(body, dict):
        raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}, "
                                           "not a JSON object")
    return body


def transient(response: httpx.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429


def short(value: Any) -> str:
    """An upstream error code, safe to put in a detail (bounded, never a free text body)."""
    return repr(str(value)[:64]) if value is not None else "None"


def scope_list(raw: Any, separator: str = " ") -> list[str]:
    if isinstance(raw, list):
        return [s for s in raw if isinstance(s, str) and s]
    if isinstance(raw, str):
        return [s.strip() for s in raw.split(separator) if s.strip()]
    return []
