"""An httpx transport that serves requests from in-process apps, chosen by URL host."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx
from starlette.types import ASGIApp

_DEFAULT_PORTS = {"http": 80, "https": 443}

Target = httpx.AsyncBaseTransport | ASGIApp


class RoutingTransport(httpx.AsyncBaseTransport):
    """Dispatch by ``host:port``; unknown hosts fail with :class:`httpx.ConnectError`.

    Route keys may be ``"host"`` (any port), ``"host:port"`` or a full URL such as
    ``"https://idp.example.test"`` (its explicit or default port).
    """

    def __init__(self, routes: Mapping[str, Target] | None = None) -> None:
        self._routes: dict[str, httpx.AsyncBaseTransport] = {}
        for key, target in (routes or {}).items():
            self.add(key, target)

    def add(self, key: str, target: Target) -> None:
        if not isinstance(target, httpx.AsyncBaseTransport):
            target = httpx.ASGITransport(app=target)
        self._routes[_normalize(key)] = target

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        transport = self._routes.get(f"{url.host}:{port}") or self._routes.get(url.host)
        if transport is None:
            message = f"RoutingTransport: no route for {url.host}:{port}"
            raise httpx.ConnectError(message, request=request)
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in {id(t): t for t in self._routes.values()}.values():
            await transport.aclose()


def _normalize(key: str) -> str:
    if "://" not in key:
        return key.lower()
    parts = urlsplit(key)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    return f"{(parts.hostname or '').lower()}:{port}"
