"""A fake of Figma's OAuth app endpoints and ``/v1/me``, as documented
(developers.figma.com/docs/rest-api/oauth-apps, /authentication, /users-endpoints, /errors).

Figma's rules kept here: the authorize page is www.figma.com/oauth with ``client_id``,
``redirect_uri``, ``scope``, ``state``, ``response_type=code`` and optional PKCE; the token and
refresh endpoints are on api.figma.com (www.figma.com's old one is gone: 404), want HTTP
Basic client credentials and a form body, and answer errors as ``{"error": true, "status":
400, "message"}``; the token response carries ``user_id_string``, ``access_token``,
``token_type``, ``expires_in`` and ``refresh_token``; a refresh returns ``access_token``,
``token_type`` and ``expires_in`` only; ``/v1/me`` needs ``current_user:read`` and answers
``{"id", "email", "handle", "img_url"}``, or ``403 {"status": 403, "err": "Invalid token"}``.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "redirect_uri", "scope", "state", "response_type",
                    "code_challenge", "code_challenge_method"}


def oauth_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": True, "status": status, "message": message, "i18n": None},
                        status)


class FakeFigma(FakeProvider):
    strategy = "figma"
    hosts = ("www.figma.com", "api.figma.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_urlsafe(16)
        self.access_ttl = 7776000  # 90 days
        self.user = {"id": "1184951234567890123", "email": "jane@figma.example.com",
                     "handle": "Jane Designer",
                     "img_url": "https://s3-alpha.figma.com/profile/jane.png"}
        self.seen: set[str] = set()
        self.token_user_id: str | None = None  # a test may make the token name another user
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["id"], "user_id": f"figma|{self.user['id']}",
                "email": self.user["email"], "email_verified": False,
                "name": "Jane Designer", "nickname": "Jane Designer",
                "picture": self.user["img_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": True, "status": 400, "message": "Invalid code", "i18n": None}

    # --- endpoints ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK or q.get("response_type") != "code" \
                or not q.get("state") or not q.get("scope") \
                or q.get("code_challenge_method", "S256") != "S256":
            return Response("Invalid OAuth request", 400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"scopes": q["scope"].replace(",", " ").split(),
                            "challenge": q.get("code_challenge")}
        return RedirectResponse(CALLBACK + "?" + urlencode({"code": code, "state": q["state"]}),
                                302)

    def _client_ok(self, request: Request) -> bool:
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        cid, _, secret = base64.b64decode(raw).decode().partition(":")
        return cid == self.client_id and secret == self.client_secret

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if not self._client_ok(request):
            return oauth_error("Invalid client credentials", 401)
        if unknown(form, {"redirect_uri", "code", "grant_type", "code_verifier"}):
            return oauth_error(f"Unknown parameter {unknown(form, set())[0]}")
        if form.get("grant_type") != "authorization_code":
            return oauth_error("Parameter grant_type must be authorization_code")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != CALLBACK:
            return oauth_error("Invalid code")
        if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
            return oauth_error("Invalid code_verifier")
        grant_id = secrets.token_hex(8)
        return JSONResponse({
            "user_id_string": self.token_user_id or self.user["id"],
            "user_id": int(self.token_user_id or self.user["id"]),
            "access_token": self._access(grant["scopes"], grant_id), "token_type": "bearer",
            "expires_in": self.access_ttl,
            "refresh_token": self.issue("refresh_token", grant["scopes"], grant_id, "figr_")})

    def _access(self, scopes: list[str], grant: str) -> str:
        return self.issue("access_token", scopes, grant, "figu_", time.time() + self.access_ttl)

    async def refresh(self, request: Request) -> Response:
        form = await form_of(request)
        if not self._client_ok(request):
            return oauth_error("Invalid client credentials", 401)
        if unknown(form, {"refresh_token"}):
            return oauth_error(f"Unknown parameter {unknown(form, {'refresh_token'})[0]}")
        old = self.tokens.get(form.get("refresh_token", ""))
        if old is None or not old.live or old.kind != "refresh_token":
            return oauth_error("Invalid refresh token")
        return JSONResponse({"access_token": self._access(old.scopes, old.grant),
                             "token_type": "bearer", "expires_in": self.access_ttl})

    async def me(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        issued = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if issued is None or not issued.live or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return JSONResponse({"status": 403, "err": "Invalid token"}, 403)
        if "current_user:read" not in issued.scopes:
            return JSONResponse({"status": 403, "err": "Invalid scope"}, 403)
        return JSONResponse(self.user)

    def _build(self) -> ASGIApp:
        c = self.counted
        profile, validate = c("profile", self.me), c("validate", self.me)

        async def me(request: Request) -> Response:
            # The login reads /v1/me once per token; any later read is a validation.
            token = request.headers.get("authorization", "").partition(" ")[2]
            first = token not in self.seen
            self.seen.add(token)
            return await (profile if first else validate)(request)

        app = Starlette(routes=[
            Route("/oauth", c("authorize", self.authorize), methods=["GET"]),
            Route("/v1/oauth/token", c("token", self.token), methods=["POST"]),
            Route("/v1/oauth/refresh", c("token", self.refresh), methods=["POST"]),
            Route("/v1/me", me, methods=["GET"]),
        ])
        return HostGuard(app, {"www.figma.com": ["/oauth"],
                               "api.figma.com": ["/v1/oauth/", "/v1/me"]})


STRATEGY = "figma"


def make_fake() -> FakeFigma:
    return FakeFigma()
