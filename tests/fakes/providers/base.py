"""What every provider fake shares: a registered app, one consenting user, issued tokens,
one-shot failure injection, and a record of the calls made.

Each fake is a Starlette app answering on the provider's real hostnames (routed in-process
by tests/fakes/routing_transport.py). A fake refuses what the real provider refuses —
unknown or missing parameters, a wrong client secret, a reused code — so a connector that
sends the wrong parameter name fails a test instead of passing against a lenient fake.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

CALLBACK = "https://idbroker.example.test/login/callback"


@dataclass
class Issued:
    """One token the fake issued, and whether it still works."""

    value: str
    kind: str  # access_token | refresh_token
    scopes: list[str]
    expires_at: float | None = None
    live: bool = True
    grant: str = ""  # tokens of one grant die together


@dataclass
class Failure:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeProvider:
    strategy: str = ""
    hosts: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.client_id = f"{self.strategy}-app-{secrets.token_hex(3)}"
        self.client_secret = secrets.token_urlsafe(24)
        self.calls: Counter[str] = Counter()
        self.tokens: dict[str, Issued] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, list[Failure]] = {}
        self.last_authorize: dict[str, str] = {}
        self.access_ttl = 3600

    # --- test controls ----------------------------------------------------------------------

    def fail(self, name: str, status: int, body: Any, headers: dict[str, str] | None = None,
             times: int = 1) -> None:
        """The next ``times`` calls to endpoint ``name`` answer this instead."""
        self._failures.setdefault(name, []).extend([Failure(status, body, headers or {})] * times)

    def live(self, token: str) -> bool:
        issued = self.tokens.get(token)
        return issued is not None and issued.live

    def kill_grant(self, token: str) -> None:
        """The user withdraws consent at the provider."""
        grant = self.tokens[token].grant
        for issued in self.tokens.values():
            if issued.grant == grant:
                issued.live = False

    def issue(self, kind: str, scopes: list[str], grant: str, prefix: str = "",
              ttl: float | None = None) -> str:
        value = prefix + secrets.token_urlsafe(32)
        self.tokens[value] = Issued(value, kind, list(scopes), ttl, True, grant)
        return value

    # --- for the conformance suite ----------------------------------------------------------

    def connection_options(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def expected_profile(self) -> dict[str, Any]:
        raise NotImplementedError

    def login_extra(self) -> dict[str, str]:
        """/authorize parameters an app sends to get a renewable grant from this provider."""
        return {}

    def token_error(self) -> tuple[int, Any]:
        """The provider's documented answer to a bad authorization code."""
        raise NotImplementedError

    @property
    def app(self) -> ASGIApp:
        raise NotImplementedError

    # --- helpers for the endpoints ----------------------------------------------------------

    def counted(self, name: str, handler: Callable[[Request], Awaitable[Response]]
                ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.calls[name] += 1
            queued = self._failures.get(name)
            if queued:
                failure = queued.pop(0)
                return JSONResponse(failure.body, failure.status, headers=failure.headers)
            return await handler(request)
        return endpoint


class HostGuard:
    """Serve a path only on the host that really serves it: a connector calling
    ``accounts.google.com/token`` instead of ``oauth2.googleapis.com/token`` gets a 404."""

    def __init__(self, app: ASGIApp, paths: Mapping[str, Iterable[str]]) -> None:
        self.app = app
        self.paths = {host: tuple(prefixes) for host, prefixes in paths.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode().split(":")[0]
            allowed = self.paths.get(host, ())
            if not any(scope["path"].startswith(prefix) for prefix in allowed):
                await JSONResponse({"message": "Not Found"}, 404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def unknown(params: Mapping[str, str], allowed: Iterable[str]) -> list[str]:
    return sorted(set(params) - set(allowed))


async def form_of(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0] != \
            "application/x-www-form-urlencoded":
        return {}
    return {k: str(v) for k, v in (await request.form()).items()}
