"""A fake of Discord's OAuth2 endpoints and the REST calls idbroker makes, as documented
(discord.com/developers/docs/topics/oauth2, /resources/user): the consent page at
discord.com/oauth2/authorize, /api/oauth2/token, /api/oauth2/token/revoke, /api/oauth2/@me
and /api/users/@me, all on discord.com.

Discord's rules kept here: client credentials as HTTP Basic or in the form body; token errors
``{"error", "error_description"}`` with 400 (401 for ``invalid_client``); every code grant gets
a refresh token (7-day access tokens), and a refresh hands out a new refresh token and retires
the old one; revoking either token ends the authorization; REST errors are
``{"message", "code"}``; ``email`` only with the ``email`` scope.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"response_type", "client_id", "scope", "state", "redirect_uri", "prompt",
                    "integration_type", "permissions", "guild_id",
                    "disable_guild_select"}
SCOPES = {"identify", "email", "guilds", "guilds.join", "connections", "openid",
          "role_connections.write", "extra.scope"}  # extra.scope: the conformance suite's


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


def _api_error(status: int = 401) -> JSONResponse:
    return JSONResponse({"message": f"{status}: Unauthorized", "code": 0}, status)


class FakeDiscord(FakeProvider):
    strategy = "discord"
    hosts = ("discord.com",)

    def __init__(self) -> None:
        super().__init__()
        self.client_id = str(10**17 + secrets.randbelow(10**17))
        self.access_ttl = 604800
        self.user = {"id": "80351110224678912", "username": "nelly", "discriminator": "0",
                     "global_name": "Nelly Q", "avatar": "8342729096ea3675442027381ff50dfe",
                     "verified": True, "email": "nelly@discord.example", "flags": 64,
                     "banner": None, "accent_color": None, "premium_type": 1,
                     "public_flags": 64, "mfa_enabled": True, "locale": "en-US"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["id"], "user_id": f"discord|{self.user['id']}",
                "email": self.user["email"], "email_verified": True, "name": "Nelly Q",
                "nickname": "nelly",
                "picture": f"https://cdn.discordapp.com/avatars/{self.user['id']}/"
                           f"{self.user['avatar']}.png"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant",
                     "error_description": "Invalid \"code\" in request."}

    # --- discord.com/oauth2/authorize ---------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        scopes = q.get("scope", "").split(" ")
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("response_type") != "code" or not set(scopes) <= SCOPES \
                or q.get("prompt", "consent") not in ("consent", "none"):
            # Discord's consent page shows an error and does not redirect.
            return Response("Invalid OAuth2 request", 400)
        if q.get("redirect_uri") != CALLBACK:
            return Response("Invalid OAuth2 redirect_uri", 400)
        code = secrets.token_urlsafe(22)
        self.codes[code] = {"scopes": scopes, "redirect_uri": q["redirect_uri"]}
        back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    # --- discord.com/api/oauth2 ---------------------------------------------------------------

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        if scheme == "Basic":
            cid, _, secret = base64.b64decode(raw).decode().partition(":")
            if "client_secret" in form:
                return False  # two client authentication methods at once
            return unquote(cid) == self.client_id and unquote(secret) == self.client_secret
        return form.get("client_id") == self.client_id and \
            form.get("client_secret") == self.client_secret

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        allowed = {"grant_type", "code", "redirect_uri", "refresh_token", "client_id",
                   "client_secret", "code_verifier"}
        if not form or unknown(form, allowed):
            return _error("invalid_request", "Invalid request")
        if not self._client_ok(request, form):
            return _error("invalid_client", "Invalid client", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return _error("invalid_grant", "Invalid \"code\" in request.")
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return _error("invalid_grant", "Invalid \"redirect_uri\" in request.")
            return JSONResponse(self._tokens(grant["scopes"], secrets.token_hex(8)))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "Invalid \"refresh_token\" in request.")
            old.live = False
            return JSONResponse(self._tokens(old.scopes, old.grant))
        return _error("unsupported_grant_type", "Unsupported grant type")

    def _tokens(self, scopes: list[str], grant: str) -> dict[str, Any]:
        return {"access_token": self.issue("access_token", scopes, grant, "",
                                           time.time() + self.access_ttl),
                "token_type": "Bearer", "expires_in": self.access_ttl,
                "refresh_token": self.issue("refresh_token", scopes, grant),
                "scope": " ".join(scopes)}

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if not form.get("token") or unknown(form, {"token", "token_type_hint", "client_id",
                                                   "client_secret"}) \
                or form.get("token_type_hint", "access_token") not in ("access_token",
                                                                       "refresh_token"):
            return _error("invalid_request", "Invalid request")
        if not self._client_ok(request, form):
            return _error("invalid_client", "Invalid client", 401)
        if form["token"] in self.tokens:
            self.kill_grant(form["token"])
        return JSONResponse({})  # RFC 7009: unknown tokens are not an error

    # --- discord.com/api (REST) ---------------------------------------------------------------

    def _bearer(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or not issued.live \
                or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return token

    async def users_me(self, request: Request) -> Response:
        token = self._bearer(request)
        if token is None:
            return _api_error()
        scopes = self.tokens[token].scopes
        if "identify" not in scopes:
            return _api_error(401)
        user = dict(self.user)
        if "email" not in scopes:
            user.pop("email")
        return JSONResponse(user)

    async def oauth2_me(self, request: Request) -> Response:
        token = self._bearer(request)
        if token is None:
            return _api_error()
        issued = self.tokens[token]
        body: dict[str, Any] = {
            "application": {"id": self.client_id, "name": "idbroker test", "icon": None,
                            "description": "", "bot_public": True,
                            "bot_require_code_grant": False, "verify_key": "0" * 64},
            "scopes": issued.scopes,
            "expires": time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                     time.gmtime(issued.expires_at or time.time())),
        }
        if "identify" in issued.scopes:
            body["user"] = {k: self.user[k] for k in ("id", "username", "avatar",
                                                      "discriminator", "global_name",
                                                      "public_flags")}
        return JSONResponse(body)

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/oauth2/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/api/oauth2/token", c("token", self.token), methods=["POST"]),
            Route("/api/oauth2/token/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/api/oauth2/@me", c("validate", self.oauth2_me), methods=["GET"]),
            Route("/api/users/@me", c("user", self.users_me), methods=["GET"]),
        ])
        return HostGuard(app, {"discord.com": ["/oauth2/authorize", "/api/"]})


STRATEGY = "discord"


def make_fake() -> FakeDiscord:
    return FakeDiscord()
