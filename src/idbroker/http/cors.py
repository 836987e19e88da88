"""Cross-origin access for browser apps (docs/sessions.md#cors).

An origin is allowed only if it is, exactly, one of a client's "Allowed Web Origins"
(``web_origins``): same scheme, host and port, no wildcard, no prefix. The ``Origin`` header
is compared as sent (browsers send the serialised form: lower-case host, no default port);
configured values are reduced to that form first.

Two flavours:
- without credentials (/oauth/token, /oauth/revoke, /userinfo): the response names the
  origin when it belongs to the request's client (or to any client where the request names
  none); cookies are not involved;
- with credentials (/co/authenticate, /dbconnections/*): ``Access-Control-Allow-Credentials:
  true``, which browsers honour only with an exact origin, never ``*``.

A preflight (OPTIONS) cannot see the body, so it allows an origin listed by any client; the
real response then allows it only for the client it concerns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from idbroker.runtime import Runtime
from idbroker.vault.records import Client

ALLOW_HEADERS = "Content-Type, Auth0-Client, Authorization, DPoP"
PREFLIGHT_MAX_AGE = "600"
_HOST = re.compile(r"[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_origin(value: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL or origin, in the form browsers send; None
    for anything else (a path beyond ``/``, a query, credentials, another scheme)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or parts.query or parts.fragment \
            or parts.path not in ("", "/") or "@" in parts.netloc or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if not _HOST.fullmatch(host):
        return None
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def origin_of_url(url: str) -> str | None:
    """The origin of an http(s) URL with any path (a redirect URI)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return canonical_origin(f"{parts.scheme}://{parts.netloc}") if parts.netloc else None


def client_origins(client: Client) -> frozenset[str]:
    return frozenset(o for o in (canonical_origin(v) for v in client.web_origins) if o)


async def any_client_origins(rt: Runtime) -> frozenset[str]:
    found: set[str] = set()
    for client in await rt.store.list_clients():
        found |= client_origins(client)
    return frozenset(found)


def request_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    return origin if origin and origin != "null" and len(origin) <= 300 else None


async def allowed_for(rt: Runtime, origin: str | None, client_id: str | None) -> bool:
    """Whether ``origin`` may read the answer: a web origin of ``client_id``'s client, or of
    any client when the request names none."""
    if origin is None:
        return False
    if client_id:
        client = await rt.store.get_client(client_id) if len(client_id) <= 64 else None
        return client is not None and origin in client_origins(client)
    return origin in await any_client_origins(rt)


def add_headers(response: Response, origin: str | None, allowed: bool, *,
                credentials: bool = False) -> Response:
    """Mark ``response`` readable by ``origin`` when ``allowed``; always ``Vary: Origin``, so
    a cache never hands one origin's answer to another."""
    _vary_origin(response)
    if allowed and origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        if credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
    return response


async def preflight(request: Request, methods: Iterable[str], *,
                    credentials: bool = False) -> Response:
    """Answer OPTIONS: 204, naming the origin only if some client lists it (without CORS
    headers the browser refuses the real request)."""
    rt: Runtime = request.app.state.runtime
    origin = request_origin(request)
    response = Response(status_code=204)
    if origin is not None and origin in await any_client_origins(rt):
        response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        add_headers(response, origin, True, credentials=credentials)
    else:
        _vary_origin(response)
    return response


def _vary_origin(response: Response) -> None:
    vary = response.headers.get("vary")
    if not vary:
        response.headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin"
