"""Pure ASGI middleware: a rate limit on every Management and Authentication API request.

Each request falls in an endpoint group (``management``, ``token``, ``authorize``,
``userinfo``, ``discovery``, ``password``, ``other``) and a bucket: the *authenticated*
client when there is one — the verified access token's ``azp`` on the Management API and
/userinfo, the client that passed client authentication at /oauth/token — else the peer
address (see ratelimit/addresses.py). An unverified client_id never picks the bucket: anyone
could then spend another client's budget, or escape their own.

Every response carries ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and
``x-ratelimit-reset`` (integer epoch seconds: auth0-python does ``int()`` on it); over the
limit the answer is 429 with ``Retry-After`` and the error shape of the API it belongs to.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idbroker.errors import IdbrokerError
from idbroker.management.auth import bearer_token
from idbroker.oauth.client_auth import authenticate
from idbroker.oauth.token_request import parse_body
from idbroker.ratelimit import Decision
from idbroker.ratelimit.addresses import client_address

_GROUPS = (("/api/v2/", "management"), ("/oauth/token", "token"), ("/oauth/revoke", "token"),
           ("/authorize", "authorize"), ("/login/callback", "authorize"),
           ("/userinfo", "userinfo"), ("/.well-known/", "discovery"),
           # Each password check costs an argon2id hash (docs/database-connections.md).
           ("/co/authenticate", "password"), ("/usernamepassword/", "password"),
           ("/dbconnections/", "password"), ("/lo/", "password"), ("/login/ticket", "password"))


def group_of(path: str) -> str:
    for prefix, group in _GROUPS:
        if path.startswith(prefix):
            return group
    return "other"


class RateLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app_state = getattr(scope.get("app"), "state", None)
        rt = getattr(app_state, "runtime", None)
        if scope["type"] != "http" or not enabled(rt):
            await self.app(scope, receive, send)
            return
        group = group_of(scope["path"])
        headers = Headers(scope=scope)
        client_id = None
        if group in ("management", "userinfo"):
            client_id = verified_azp(rt, headers, group)
        elif group == "token" and scope["method"] == "POST":
            client_id, receive = await _authenticated_client(rt, headers, receive)
        decision = await hit(rt, scope, headers, group, client_id)
        if not decision.allowed:
            await too_many(scope, send, group, decision, time.time())
            return
        await self.app(scope, receive, with_limit_headers(send, decision))


def enabled(rt: Any) -> bool:
    return rt is not None and rt.limiter is not None and rt.settings.rate_limits.enabled


async def hit(rt: Any, scope: Scope, headers: Headers, group: str,
              client_id: str | None) -> Decision:
    """Count this request in its bucket: the authenticated client's, else the peer's."""
    if client_id is not None:
        key = f"{group}:client:{client_id}"
    else:
        peer = scope.get("client")
        address = client_address(peer[0] if peer else None,
                                 headers.getlist("x-forwarded-for"),
                                 rt.settings.trusted_proxy_networks)
        key = f"{group}:ip:{address}"
    rule = rt.settings.rate_limits.for_group(group, client_id)
    return await rt.limiter.hit(key, rule.limit, rule.window, time.time())


def with_limit_headers(send: Send, decision: Decision) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            out = MutableHeaders(scope=message)
            for name, value in limit_headers(decision):
                out[name] = value
        await send(message)
    return send_with_headers


def limit_headers(decision: Decision) -> list[tuple[str, str]]:
    return [("x-ratelimit-limit", str(decision.limit)),
            ("x-ratelimit-remaining", str(decision.remaining)),
            ("x-ratelimit-reset", str(decision.reset))]


async def too_many(scope: Scope, send: Send, group: str, decision: Decision,
                    now: float) -> None:
    body: dict[str, Any]
    if group == "management":
        body = {"statusCode": 429, "error": "Too Many Requests",
                "message": "Global limit has been reached", "errorCode": "too_many_requests"}
    else:
        body = {"error": "too_many_requests",
                "error_description": "Too many requests. Check the x-ratelimit-* headers."}
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
               (b"cache-control", b"no-store"),
               (b"retry-after", str(decision.retry_after(now)).encode()),
               *[(k.encode(), v.encode()) for k, v in limit_headers(decision)]]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


def verified_azp(rt: Any, headers: Headers, group: str) -> str | None:
    token_value = bearer_token(headers.get("authorization"))
    if token_value is None:
        return None
    audience = (rt.settings.management_audience if group == "management"
                else f"{rt.settings.issuer}userinfo")
    try:
        # Cached by the issuer, so the endpoint's own check costs nothing more.
        token = rt.issuer.verify_access_token(token_value, frozenset({audience}))
    except IdbrokerError:
        return None
    azp = token.claims.get("azp")
    return azp if isinstance(azp, str) else None


async def _authenticated_client(rt: Any, headers: Headers,
                                receive: Receive) -> tuple[str | None, Receive]:
    """Read the token request's body (bounded), authenticate its client, and hand the
    endpoint a ``receive`` that replays the body unchanged."""
    limit = rt.settings.max_body_bytes
    messages: list[Message] = []
    size, complete = 0, False
    while size <= limit:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            complete = True
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    if not complete or size > limit:
        return None, replay
    body = b"".join(m.get("body", b"") for m in messages)
    try:
        params = parse_body(headers.get("content-type", ""), body)
        client = await authenticate(rt, params, headers.get("authorization"))
    except IdbrokerError:
        return None, replay
    # A public client proves nothing about who sends its client_id: count it by address.
    return (None if client.is_public else client.client_id), replay
