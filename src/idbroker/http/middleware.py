"""Pure ASGI middleware: security headers on every response and an access log that never
records a query string (it carries codes and states) or any header value."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idbroker.http.pages import branding_for, csp_for, locale_for, render_page

access_log = logging.getLogger("idbroker.access")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
BROWSER_PATHS = frozenset({"/authorize", "/login/callback", "/v2/logout", "/oidc/logout",
                           "/authorize/consent"})


def _frames_allowed(csp: str | None) -> bool:
    """A response whose own CSP names frame ancestors other than 'none' (the web_message
    page, framed by the app) keeps that policy; X-Frame-Options DENY would override it in
    browsers that ignore frame-ancestors."""
    if not csp:
        return False
    for directive in csp.split(";"):
        name, _, value = directive.strip().partition(" ")
        if name.lower() == "frame-ancestors":
            return value.strip() != "'none'"
    return False


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, with_security_headers(scope, send))


def with_security_headers(scope: Scope, send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
            if headers.get("content-type", "").startswith("text/html"):
                # Defaults only: a page that set its own policy (form_post, web_message)
                # keeps it.
                headers.setdefault("Content-Security-Policy", csp_for(HTTPConnection(scope)))
            if not _frames_allowed(headers.get("content-security-policy")):
                headers.setdefault("X-Frame-Options", "DENY")
        await send(message)
    return send_with_headers


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            log_access(scope, status, started)


def log_access(scope: Scope, status: int, started: float) -> None:
    if access_log.isEnabledFor(logging.INFO):
        client = scope.get("client")
        access_log.info("%s %s %s %d %.1fms", client[0] if client else "-", scope["method"],
                        scope["path"], status, (time.perf_counter() - started) * 1000)


class RejectNul:
    """Refuse a NUL byte anywhere in the path or query before any handler sees it: no
    identifier legitimately contains one, and PostgreSQL cannot even compare text with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and carries_nul(scope):
            content_type, body = _nul_refusal(scope)
            await send({"type": "http.response.start", "status": 400, "headers": [
                (b"content-type", content_type), (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _nul_refusal(scope: Scope) -> tuple[bytes, bytes]:
    """The refusal in the shape the endpoint's clients expect: a page where a browser
    navigated (no redirect, the target is untrusted), Auth0 shapes elsewhere."""
    path = scope["path"]
    if path in BROWSER_PATHS:
        conn = HTTPConnection(scope)
        page = render_page("error.html", locale=locale_for(conn), branding=branding_for(conn),
                           http_status=400, message_key="error.bad_characters")
        return b"text/html; charset=utf-8", page.encode()
    if path.startswith("/api/v2/"):
        return b"application/json", (b'{"statusCode":400,"error":"Bad Request","message":"NUL '
                                     b'characters are not allowed","errorCode":"invalid_query_string"}')
    return b"application/json", (b'{"error":"invalid_request","error_description":"NUL '
                                 b'characters are not allowed"}')


def carries_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"").lower()
    raw_path = (scope.get("raw_path") or b"").lower()
    return (b"%00" in query or b"\x00" in query or "\x00" in scope["path"]
            or b"%00" in raw_path)
