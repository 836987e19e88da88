"""A fake of Atlassian's OAuth 2.0 (3LO) endpoints and the User Identity API, as documented
(developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps): authorize and token at
auth.atlassian.com, ``/me`` at api.atlassian.com.

Atlassian's rules kept here: authorize requires ``audience=api.atlassian.com``,
``client_id``, ``scope``, ``redirect_uri``, ``state``, ``response_type=code`` and
``prompt=consent``; the token endpoint takes a JSON body (``grant_type``, ``client_id``,
``client_secret``, ``code``, ``redirect_uri`` / ``refresh_token``) and answers errors as
``{"error", "error_description"}`` with 403 (401 for bad client credentials); a refresh token
only with ``offline_access``, rotated on every refresh; ``/me`` needs ``read:me`` and answers
401 ``{"code", "message"}`` otherwise. No revocation endpoint.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, unknown

AUTHORIZE_PARAMS = {"audience", "client_id", "scope", "redirect_uri", "state", "response_type",
                    "prompt"}


def _error(error: str, description: str, status: int = 403) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakeAtlassian(FakeProvider):
    strategy = "atlassian"
    hosts = ("auth.atlassian.com", "api.atlassian.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_urlsafe(24)
        self.client_secret = secrets.token_urlsafe(48)
        self.account_id = "5b10ac8d82e05b22cc7d4ef5"
        self.user = {"account_type": "atlassian", "account_id": self.account_id,
                     "email": "ada@atl.example", "email_verified": True,
                     "name": "Ada Lassian", "nickname": "ada",
                     "picture": "https://avatar-management--avatars.us-west-2.prod.public.atl-"
                                "paas.net/5b10ac8d82e05b22cc7d4ef5/a.png",
                     "account_status": "active", "zoneinfo": "Australia/Sydney",
                     "locale": "en-US", "extended_profile": {"job_title": "Engineer"},
                     "last_updated": "2026-01-01T00:00:00.000Z"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.account_id, "user_id": f"atlassian|{self.account_id}",
                "email": "ada@atl.example", "email_verified": True, "name": "Ada Lassian",
                "nickname": "ada", "picture": self.user["picture"]}

    def token_error(self) -> tuple[int, Any]:
        return 403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        missing = AUTHORIZE_PARAMS - set(q)
        if unknown(q, AUTHORIZE_PARAMS) or missing or q["audience"] != "api.atlassian.com" \
                or q["client_id"] != self.client_id or q["response_type"] != "code" \
                or q["prompt"] != "consent" or q["redirect_uri"] != CALLBACK:
            return Response("Something went wrong: invalid authorization request", 400)
        code = secrets.token_urlsafe(30)
        self.codes[code] = {"scopes": q["scope"].split(" ")}
        back = {"code": code, "state": q["state"]}
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error("invalid_request", "Content-Type must be application/json", 400)
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or unknown(body, {"grant_type", "client_id",
                                                        "client_secret", "code", "redirect_uri",
                                                        "refresh_token"}):
            return _error("invalid_request", "Invalid request", 400)
        if body.get("client_id") != self.client_id or \
                body.get("client_secret") != self.client_secret:
            return _error("access_denied", "Unauthorized", 401)
        if body.get("grant_type") == "authorization_code":
            grant = self.codes.pop(str(body.get("code")), None)
            if grant is None or body.get("redirect_uri") != CALLBACK:
                return _error("invalid_grant", "Invalid authorization code")
            return JSONResponse(self._tokens(grant["scopes"], secrets.token_hex(8)))
        if body.get("grant_type") == "refresh_token":
            old = self.tokens.get(str(body.get("refresh_token")))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "Unknown or invalid refresh token.")
            old.live = False  # rotating refresh tokens
            return JSONResponse(self._tokens(old.scopes, old.grant))
        return _error("unsupported_grant_type", "Unsupported grant type", 400)

    def _tokens(self, scopes: list[str], grant: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.issue("access_token", scopes, grant, "eyJ",
                                       time.time() + self.access_ttl),
            "expires_in": self.access_ttl, "scope": " ".join(scopes), "token_type": "Bearer"}
        if "offline_access" in scopes:
            body["refresh_token"] = self.issue("refresh_token", scopes, grant)
        return body

    async def me(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or not issued.live \
                or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return JSONResponse({"code": 401, "message": "Unauthorized"}, 401)
        if "read:me" not in issued.scopes:
            return JSONResponse({"code": 401, "message": "Unauthorized; scope does not match"},
                                401)
        return JSONResponse(self.user)

    def _build(self) -> ASGIApp:
        c = self.counted
        profile, probe = c("profile", self.me), c("validate", self.me)
        seen: set[str] = set()

        async def me(request: Request) -> Response:
            # The login's read of a token is its profile; a later read is a validation probe.
            token = request.headers.get("authorization", "").partition(" ")[2]
            first = token not in seen
            seen.add(token)
            return await (profile if first else probe)(request)

        app = Starlette(routes=[
            Route("/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/oauth/token", c("token", self.token), methods=["POST"]),
            Route("/me", me, methods=["GET"]),
        ])
        return HostGuard(app, {"auth.atlassian.com": ["/authorize", "/oauth/token"],
                               "api.atlassian.com": ["/me"]})


STRATEGY = "atlassian"


def make_fake() -> FakeAtlassian:
    return FakeAtlassian()
