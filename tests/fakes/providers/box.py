"""A fake of Box's OAuth 2.0 flow and the API calls idbroker makes, as documented
(developer.box.com: "OAuth 2.0 Auth", "Refresh a token", "Revoke a token"; reference
``GET /oauth2/authorize``, ``POST /oauth2/token``, ``GET /users/me``, ``POST /oauth2/revoke``).

Box's rules kept here: the authorize page is on account.box.com and takes ``response_type``,
``client_id``, ``redirect_uri``, ``state`` and ``scope`` (no PKCE); the token endpoint on
api.box.com takes form fields only (``grant_type``, ``client_id``, ``client_secret``,
``code`` / ``refresh_token``; no ``redirect_uri``), answers ``token_type: "bearer"``,
``expires_in``, ``restricted_to`` and a ``refresh_token`` on every grant; a refresh token is
single-use: using it returns a new pair and kills the old one; errors are RFC 6749 bodies
with HTTP 400 (``invalid_grant``, ``invalid_client``). ``/2.0/users/me`` answers a ``user``
object (``id`` a numeric string, ``login`` the email) and 401 with an empty body and a
``WWW-Authenticate: Bearer ... error="invalid_token"`` header for a dead token.
``/oauth2/revoke`` takes client credentials and either token, ends the session, and
answers 200 with an empty body.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"response_type", "client_id", "redirect_uri", "state", "scope"}
TOKEN_PARAMS = {"grant_type", "client_id", "client_secret", "code", "refresh_token"}
REVOKE_PARAMS = {"client_id", "client_secret", "token"}
USER_FIELDS = {"type", "id", "name", "login", "created_at", "modified_at", "language",
               "timezone", "space_amount", "space_used", "max_upload_size", "status",
               "job_title", "phone", "address", "avatar_url"}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


def _unauthorized() -> Response:
    return Response(status_code=401, headers={
        "WWW-Authenticate": 'Bearer realm="Service", error="invalid_token", '
                            'error_description="The access token provided is invalid."'})


class FakeBox(FakeProvider):
    strategy = "box"
    hosts = ("account.box.com", "api.box.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_hex(16)
        self.client_secret = secrets.token_hex(16)
        self.user = {"type": "user", "id": "11446498", "name": "Aaron Levie",
                     "login": "ceo@example.com", "created_at": "2012-12-12T10:53:43-08:00",
                     "modified_at": "2012-12-12T10:53:43-08:00", "language": "en",
                     "timezone": "Africa/Bujumbura", "space_amount": 11345156112,
                     "space_used": 1237009912, "max_upload_size": 2147483648,
                     "status": "active", "job_title": "CEO", "phone": "6509241374",
                     "address": "900 Jefferson Ave, Redwood City, CA 94063",
                     "avatar_url": "https://www.box.com/api/avatar/large/181837"}
        self.app_scopes = {"root_readonly", "root_readwrite", "extra.scope"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "11446498", "user_id": "box|11446498",
                "email": "ceo@example.com", "email_verified": False, "name": "Aaron Levie",
                "picture": self.user["avatar_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant",
                     "error_description": "Auth code doesn't exist or is invalid for the client"}

    # --- account.box.com --------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK:
            return Response("Invalid client_id or redirect_uri", 400)  # an error page
        scopes = q.get("scope", "root_readwrite").split()
        back = {"state": q.get("state", "")}
        if q.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        elif not set(scopes) <= self.app_scopes:
            back["error"] = "invalid_scope"
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"scopes": scopes}
            back["code"] = code
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    # --- api.box.com ------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, TOKEN_PARAMS) or "authorization" in request.headers:
            return _error("invalid_request", "Invalid grant_type parameter or parameter missing")
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return _error("invalid_client", "The client credentials are invalid")
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "Invalid refresh token")
            old.live = False  # single-use
            return JSONResponse(self._pair(old.scopes, old.grant))
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "Grant type is not supported")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return _error("invalid_grant", "Auth code doesn't exist or is invalid for the client")
        return JSONResponse(self._pair(grant["scopes"], secrets.token_hex(8)))

    def _pair(self, scopes: list[str], grant: str) -> dict[str, Any]:
        return {"access_token": self.issue("access_token", scopes, grant, "",
                                           time.time() + self.access_ttl),
                "expires_in": self.access_ttl, "token_type": "bearer",
                "restricted_to": [], "refresh_token": self.issue("refresh_token", scopes, grant),
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}

    async def users_me(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or issued.kind != "access_token" \
                or not issued.live or (issued.expires_at or 0) < time.time():
            return _unauthorized()
        fields = [f for f in request.query_params.get("fields", "").split(",") if f]
        if set(fields) - USER_FIELDS:
            return JSONResponse({"type": "error", "status": 400, "code": "bad_request",
                                 "message": "Invalid fields"}, 400)
        body = self.user if not fields else \
            {k: v for k, v in self.user.items() if k in {"type", "id", *fields}}
        return JSONResponse(body)

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, REVOKE_PARAMS) or not form.get("token"):
            return _error("invalid_request", "Missing token")
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return _error("invalid_client", "The client credentials are not valid")
        if form["token"] in self.tokens:
            self.kill_grant(form["token"])
        return Response(status_code=200)

    def _build(self) -> ASGIApp:
        c = self.counted
        profile, validate = c("profile", self.users_me), c("validate", self.users_me)

        async def me(request: Request) -> Response:
            # One endpoint; idbroker's validation probe asks only for the id.
            probe = request.query_params.get("fields") == "id"
            return await (validate if probe else profile)(request)

        app = Starlette(routes=[
            Route("/api/oauth2/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/oauth2/token", c("token", self.token), methods=["POST"]),
            Route("/oauth2/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/2.0/users/me", me, methods=["GET"]),
        ])
        return HostGuard(app, {"account.box.com": ["/api/oauth2/authorize"],
                               "api.box.com": ["/oauth2/token", "/oauth2/revoke",
                                               "/2.0/users/me"]})


STRATEGY = "box"


def make_fake() -> FakeBox:
    return FakeBox()
