"""Small helpers for provider connectors that do not speak plain RFC 6749 / 7009 / 7662:
one bounded HTTP call, its failures typed, and nothing of the request or response (which may
hold a token) in any message."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from idbroker.clock import now_s
from idbroker.connectors.base import expires_at
from idbroker.connectors.upstream_http import MAX_BODY_BYTES
from idbroker.errors import UpstreamProtocolError, UpstreamUnavailable
from idbroker.vault.records import TokenSet


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


def bearer_token_set(body: dict[str, Any], what: str, *, scope_key: str = "scope") -> TokenSet:
    """A token endpoint's success body as a TokenSet: a non-empty Bearer access token is
    required; the refresh token, expiry and scopes are taken when present."""
    access_token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamProtocolError(detail=f"{what}: no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise UpstreamProtocolError(detail=f"{what}: token_type is not Bearer")
    refresh = body.get("refresh_token")
    return TokenSet(access_token=access_token,
                    refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                    token_type="Bearer", expires_at=expires_at(body, now_s()),
                    scope=scope_list(body.get(scope_key)))
