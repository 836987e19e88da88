"""The two requests a backend makes most, answered without the framework's per-request
machinery: reading a user with its IdP tokens (``GET /api/v2/users/{id}``) and a
client_credentials token (``POST /oauth/token``).

Through the full stack each of these crossed five middleware layers, Starlette's router and
exception wrappers, a ``Request`` and a ``JSONResponse``: about half of a read's CPU
(docs/performance.md, "Fast lane"). The lane calls the same functions the routes call
(``management.users.get_user``, client authentication, ``token_endpoint.issue``) and answers
with the same status, headers and body.

It answers only the plain form of each request, and only once nothing is left that could make
the full stack answer differently: everything it cannot rule out *before any side effect* (a
query string, a second Authorization header, an ``Origin``, a NUL, a token or client that does
not authenticate, a grant the client may not use, a body that does not parse) goes to the full
stack untouched (a body already read is replayed), which answers it as it always has — failure
audit records included. After its first side effect (the rate-limit count) the lane answers
itself, errors through the one mapping in http/errors.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idbroker import json_codec
from idbroker.errors import IdbrokerError
from idbroker.http import ratelimit
from idbroker.http.cors import add_headers
from idbroker.http.errors import handle_idbroker_error
from idbroker.http.users_routes import GET_USER_SUMMARY
from idbroker.http.middleware import carries_nul, log_access, with_security_headers
from idbroker.management import auth, users
from idbroker.management import logs as api_log
from idbroker.oauth.client_auth import authenticate
from idbroker.oauth.token_endpoint import issue
from idbroker.oauth.token_request import parse_body
from idbroker.ratelimit import Decision

USERS_PREFIX = "/api/v2/users/"
CLIENT_CREDENTIALS = "client_credentials"

# In the order the full stack sends them: the response's own, then the rate limit's, then
# the security headers (http/middleware.py) — a test compares the two header lists.
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
_JSON = b"application/json"
_SECURITY = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
             (b"x-frame-options", b"DENY")]
_VARY_ORIGIN = [(b"vary", b"Origin")]


@dataclass
class LaneStats:
    """How many requests the lane answered itself (the rest went to the full stack)."""
    reads: int = 0
    tokens: int = 0


class FastLane:
    def __init__(self, app: ASGIApp, stats: LaneStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            if method == "GET" and path.startswith(USERS_PREFIX):
                if await self._read_user(scope, send):
                    return
            elif method == "POST" and path == "/oauth/token":
                rest = await self._token(scope, receive, send)
                if rest is None:
                    return
                receive = rest
        await self.app(scope, receive, send)

    # --- GET /api/v2/users/{id} ---------------------------------------------------------------

    async def _read_user(self, scope: Scope, send: Send) -> bool:
        """True when answered; False (nothing done) sends the request to the full stack."""
        started = time.perf_counter()
        user_id = scope["path"][len(USERS_PREFIX):]
        if not user_id or "/" in user_id or scope["query_string"] or carries_nul(scope):
            return False
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    return False
                authorization = value.decode("latin-1")
        rt = scope["app"].state.runtime
        # A kid we do not know may be a key another process just rotated in.
        await rt.keys.sync_for(rt.store, authorization)
        try:
            caller = auth.authenticate(rt, authorization, False)
            auth.require(caller, "read:users")
        except IdbrokerError:
            return False
        limit = None
        if ratelimit.enabled(rt):
            azp = caller.claims.get("azp")
            limit = await ratelimit.hit(rt, scope, Headers(scope=scope), "management",
                                        azp if isinstance(azp, str) else None)
            if not limit.allowed:
                await _refuse(scope, send, "management", limit, started)
                return True
        client = scope.get("client")
        ip = client[0] if client else None
        try:
            body = await users.get_user(rt, caller, user_id, fields=None, include_fields=None,
                                        ip=ip)
        except IdbrokerError as exc:
            await api_log.record_call(rt, "GET", scope["path"], GET_USER_SUMMARY, caller,
                                      error=exc, ip=ip)
            await _error(scope, send, exc, limit, started, vary_origin=False)
            return True
        await _send_json(scope, send, body, limit, started, vary_origin=False)
        self.stats.reads += 1
        return True

    # --- POST /oauth/token, client_credentials ------------------------------------------------

    async def _token(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None when answered; else the ``receive`` the full stack should read the body from."""
        started = time.perf_counter()
        authorization = content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    return receive
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = value
            elif name == b"origin":  # CORS: the full stack's answer names the origin
                return receive
        rt = scope["app"].state.runtime
        limit_bytes = rt.settings.max_body_bytes
        if (content_type is None or length is None or not length.isdigit()
                or int(length) > limit_bytes or scope["query_string"] or carries_nul(scope)):
            return receive
        messages, body = await _read_body(receive, limit_bytes)
        rest = _replay(messages, receive)
        if body is None:
            return rest
        try:
            params = parse_body(content_type, body)
            if params.get("grant_type") != CLIENT_CREDENTIALS:
                return rest
            client = await authenticate(rt, params, authorization)
        except IdbrokerError:
            return rest
        if client.is_public or CLIENT_CREDENTIALS not in client.grant_types:
            return rest
        limit = None
        if ratelimit.enabled(rt):
            limit = await ratelimit.hit(rt, scope, Headers(scope=scope), "token",
                                        client.client_id)
            if not limit.allowed:
                await _refuse(scope, send, "token", limit, started)
                return None
        client_addr = scope.get("client")
        try:
            result = await issue(rt, client, CLIENT_CREDENTIALS, params,
                                 client_addr[0] if client_addr else None)
        except IdbrokerError as exc:
            await _error(scope, send, exc, limit, started, vary_origin=True)
            return None
        await _send_json(scope, send, result, limit, started, vary_origin=True)
        self.stats.tokens += 1
        return None


async def _read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The messages read, and the whole body (None if it did not arrive whole within limit)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > limit:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()
    return replay


async def _send_json(scope: Scope, send: Send, body: Any, limit: Decision | None,
                     started: float, *, vary_origin: bool) -> None:
    raw = json_codec.dumps(body)
    headers = [*_NO_STORE, (b"content-length", str(len(raw)).encode()),
               (b"content-type", _JSON)]
    if vary_origin:
        headers += _VARY_ORIGIN
    if limit is not None:
        headers += [(k.encode(), v.encode()) for k, v in ratelimit.limit_headers(limit)]
    headers += _SECURITY
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": raw})
    log_access(scope, 200, started)


async def _error(scope: Scope, send: Send, exc: IdbrokerError, limit: Decision | None,
                 started: float, *, vary_origin: bool) -> None:
    response = await handle_idbroker_error(Request(scope), exc)
    if vary_origin:
        add_headers(response, None, False)
    out = with_security_headers(scope, send)
    if limit is not None:
        out = ratelimit.with_limit_headers(out, limit)
    await response(scope, _no_body, out)
    log_access(scope, response.status_code, started)


async def _refuse(scope: Scope, send: Send, group: str, decision: Decision,
                  started: float) -> None:
    await ratelimit.too_many(scope, with_security_headers(scope, send), group, decision,
                             time.time())
    log_access(scope, 429, started)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}

