"""A fake of X's (Twitter's) OAuth 1.0a endpoints, as documented (developer.x.com:
"Obtaining user access tokens (3-legged OAuth)", "POST oauth/request_token", "GET
oauth/authenticate", "POST oauth/access_token", "GET account/verify_credentials", "POST
oauth/invalidate_token", "Creating a signature", "Callback URLs").

Every call must carry a valid HMAC-SHA1 signature (RFC 5849 §3.4), checked here by an
implementation of its own (not the connector's library): the consumer secret and the secret
of the token the request names make the key. A wrong signature, an unknown consumer key, a
timestamp more than 15 minutes off or a nonce seen before is HTTP 401 ``{"errors": [{"code":
32, "message": "Could not authenticate you."}]}``; a dead access token is code 89. The
callback must be on the app's allow list once its query string is removed (X lets the query
vary); request tokens and verifiers are single-use; the OAuth endpoints answer form-encoded
text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import (
    CALLBACK, FakeProvider, HostGuard, Issued, form_of, unknown,
)

TIMESTAMP_WINDOW_S = 900
COULD_NOT_AUTHENTICATE = {"errors": [{"code": 32, "message": "Could not authenticate you."}]}
INVALID_TOKEN = {"errors": [{"code": 89, "message": "Invalid or expired token."}]}


def pct(value: str) -> str:
    """RFC 5849 §3.6: everything but the RFC 3986 unreserved characters is encoded."""
    return quote(value, safe="-._~")


def signature_base(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1: method, base string URI and the normalized parameters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    default = {"http": 80, "https": 443}.get(parts.scheme)
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    base_uri = f"{parts.scheme.lower()}://{netloc.lower()}{parts.path or '/'}"
    normalized = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in params))
    return "&".join([method.upper(), pct(base_uri), pct(normalized)])


def hmac_sha1(base: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def oauth_header(value: str) -> dict[str, str] | None:
    """``OAuth k="v", ...`` (RFC 5849 §3.5.1), values percent-decoded."""
    if not value.startswith("OAuth "):
        return None
    out: dict[str, str] = {}
    for item in value[6:].split(","):
        key, sep, raw = item.strip().partition("=")
        if not sep or len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
            return None
        out[unquote(key)] = unquote(raw[1:-1])
    return out


def _form_text(fields: dict[str, str]) -> Response:
    return Response(urlencode(fields), 200, media_type="text/html")


class FakeTwitter(FakeProvider):
    strategy = "twitter"
    hosts = ("api.twitter.com",)
    has_no_scopes = True

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "cChZNFj6T5R0TigYB9yd1w"
        self.approved_callbacks = [CALLBACK]
        self.email_permission = True
        self.deny = False
        self.user: dict[str, Any] = {
            "id": 1234567890123, "id_str": "1234567890123", "name": "Jane Xavier",
            "screen_name": "janex", "location": "Lisbon", "description": "", "url": None,
            "verified": False, "lang": None, "email": "jane@example.com",
            "profile_image_url_https": "https://pbs.twimg.com/profile_images/1/jane_normal.jpg"}
        self.secrets: dict[str, str] = {}  # token -> token secret (request and access tokens)
        self.request_tokens: dict[str, dict[str, str]] = {}
        self.seen_nonces: set[tuple[str, str, str, str]] = set()
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["id_str"],
                "user_id": f"twitter|{self.user['id_str']}", "email": "jane@example.com",
                "email_verified": True, "name": "Jane Xavier", "nickname": "janex",
                "picture": self.user["profile_image_url_https"]}

    def token_error(self) -> tuple[int, Any]:
        return 401, COULD_NOT_AUTHENTICATE

    # --- the signature --------------------------------------------------------------------

    async def _verified(self, request: Request, *, token_kind: str | None
                        ) -> tuple[dict[str, str], JSONResponse | None]:
        """The oauth_* parameters of a correctly signed, fresh request, or X's 401."""
        oauth = oauth_header(request.headers.get("authorization", ""))
        if oauth is None or oauth.get("oauth_consumer_key") != self.client_id \
                or oauth.get("oauth_signature_method") != "HMAC-SHA1" \
                or oauth.get("oauth_version", "1.0") != "1.0" \
                or not oauth.get("oauth_nonce") or not oauth.get("oauth_signature"):
            return {}, JSONResponse(COULD_NOT_AUTHENTICATE, 401)
        timestamp = oauth.get("oauth_timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > TIMESTAMP_WINDOW_S:
            return {}, JSONResponse({"errors": [{"code": 135,
                                                 "message": "Timestamp out of bounds."}]}, 401)
        token = oauth.get("oauth_token", "")
        if (token_kind is None) != (token == ""):
            return {}, JSONResponse(COULD_NOT_AUTHENTICATE, 401)
        token_secret = ""
        if token_kind == "request":
            if token not in self.request_tokens:
                return {}, JSONResponse(COULD_NOT_AUTHENTICATE, 401)
            token_secret = self.secrets[token]
        elif token_kind == "access":
            if not self.live(token):
                return {}, JSONResponse(INVALID_TOKEN, 401)
            token_secret = self.secrets[token]
        params = [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
        params += list(request.query_params.multi_items())
        params += list((await form_of(request)).items())
        expected = hmac_sha1(signature_base(request.method, str(request.url), params),
                             self.client_secret, token_secret)
        if not hmac.compare_digest(expected, oauth["oauth_signature"]):
            return {}, JSONResponse(COULD_NOT_AUTHENTICATE, 401)
        replay = (self.client_id, token, oauth["oauth_nonce"], timestamp)
        if replay in self.seen_nonces:
            return {}, JSONResponse(COULD_NOT_AUTHENTICATE, 401)
        self.seen_nonces.add(replay)
        return oauth, None

    # --- the three legs -------------------------------------------------------------------

    async def request_token(self, request: Request) -> Response:
        oauth, refused = await self._verified(request, token_kind=None)
        if refused is not None:
            return refused
        callback = oauth.get("oauth_callback", "")
        if callback.split("?", 1)[0] not in self.approved_callbacks:
            return Response('<?xml version="1.0" encoding="UTF-8"?><errors><error code="415">'
                            "Callback URL not approved for this client application. Approved "
                            "callback URLs can be adjusted in your application settings"
                            "</error></errors>", 403, media_type="application/xml")
        token = secrets.token_urlsafe(24)
        self.secrets[token] = secrets.token_urlsafe(30)
        self.request_tokens[token] = {"callback": callback}
        return _form_text({"oauth_token": token, "oauth_token_secret": self.secrets[token],
                           "oauth_callback_confirmed": "true"})

    async def authenticate(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        pending = self.request_tokens.get(q.get("oauth_token", ""))
        if unknown(q, {"oauth_token", "force_login", "screen_name"}) or pending is None \
                or "verifier" in pending:
            return Response("This page is no longer valid. It looks like someone already used "
                            "the token information you provided.", 403)
        token = q["oauth_token"]
        callback = pending["callback"]
        glue = "&" if "?" in callback else "?"
        if self.deny:
            return RedirectResponse(callback + glue + urlencode({"denied": token}), 302)
        pending["verifier"] = secrets.token_urlsafe(24)
        return RedirectResponse(callback + glue + urlencode(
            {"oauth_token": token, "oauth_verifier": pending["verifier"]}), 302)

    async def access_token(self, request: Request) -> Response:
        oauth, refused = await self._verified(request, token_kind="request")
        if refused is not None:
            return refused
        pending = self.request_tokens.pop(oauth["oauth_token"])  # single use
        verifier = oauth.get("oauth_verifier") or (await form_of(request)).get("oauth_verifier")
        if not verifier or verifier != pending.get("verifier"):
            return Response("Error processing your OAuth request: Invalid oauth_verifier "
                            "parameter", 401)
        grant = secrets.token_hex(8)
        token = f"{self.user['id_str']}-" + secrets.token_urlsafe(30)
        self.tokens[token] = Issued(token, "access_token", [], None, True, grant)
        self.secrets[token] = secrets.token_urlsafe(34)
        return _form_text({"oauth_token": token, "oauth_token_secret": self.secrets[token],
                           "user_id": self.user["id_str"],
                           "screen_name": self.user["screen_name"]})

    # --- the REST API ---------------------------------------------------------------------

    async def verify_credentials(self, request: Request) -> Response:
        q = dict(request.query_params)
        if "include_email" not in q:
            # idbroker's validation asks without include_email; its profile read with it.
            self.calls["validate"] += 1
            queued = self._failures.get("validate")
            if queued:
                failure = queued.pop(0)
                return JSONResponse(failure.body, failure.status, headers=failure.headers)
        _, refused = await self._verified(request, token_kind="access")
        if refused is not None:
            return refused
        if unknown(q, {"include_email", "skip_status", "include_entities"}):
            return JSONResponse({"errors": [{"code": 44, "message": "parameter invalid"}]}, 400)
        user = {k: v for k, v in self.user.items() if k != "email"}
        if q.get("include_email") == "true" and self.email_permission:
            user["email"] = self.user["email"]  # null when X has no verified address
        return JSONResponse(user)

    async def invalidate_token(self, request: Request) -> Response:
        oauth, refused = await self._verified(request, token_kind="access")
        if refused is not None:
            return refused
        self.tokens[oauth["oauth_token"]].live = False
        return JSONResponse({"access_token": oauth["oauth_token"]})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/oauth/request_token", c("request_token", self.request_token),
                  methods=["POST"]),
            Route("/oauth/authenticate", c("authorize", self.authenticate), methods=["GET"]),
            Route("/oauth/access_token", c("token", self.access_token), methods=["POST"]),
            Route("/1.1/account/verify_credentials.json", c("me", self.verify_credentials),
                  methods=["GET"]),
            Route("/1.1/oauth/invalidate_token", c("revoke", self.invalidate_token),
                  methods=["POST"]),
        ])
        return HostGuard(app, {"api.twitter.com": ["/oauth/", "/1.1/"]})


STRATEGY = "twitter"
make_fake = FakeTwitter
