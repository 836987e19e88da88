"""A fake of Twitch's authorization code grant flow and the calls idbroker makes, as
documented (dev.twitch.tv: "Getting OAuth Access Tokens", "Validating Tokens", "Refreshing
Access Tokens", "Revoking Access Tokens", Helix reference "Get Users").

Twitch's rules kept here: authorize, token, validate and revoke on id.twitch.tv, Helix on
api.twitch.tv; ``/oauth2/authorize`` takes ``client_id``, ``force_verify``, ``redirect_uri``,
``response_type``, ``scope``, ``state`` (and the OIDC ``claims``/``nonce``); the token
endpoint takes form fields (``client_id``, ``client_secret``, ``code``, ``grant_type``,
``redirect_uri`` / ``refresh_token``) and answers ``scope`` as a JSON array,
``token_type: "bearer"`` and a ``refresh_token``; a refresh returns a new refresh token
and, as in Twitch's example, no ``expires_in``;
errors are Twitch's ``{"status", "message"}`` (400 "Invalid authorization code", 400
"Invalid refresh token", 403 "invalid client secret"); ``/oauth2/validate`` wants
``Authorization: OAuth <token>`` and answers ``{client_id, login, scopes, user_id,
expires_in}`` or 401 ``{"status": 401, "message": "invalid access token"}``; Helix needs a
``Client-Id`` header matching the token's app; ``/oauth2/revoke`` takes ``client_id`` and
``token`` as form fields and answers 200 with no body (400 "Invalid token" for an unknown
one), ending the authorization.
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

AUTHORIZE_PARAMS = {"client_id", "force_verify", "redirect_uri", "response_type", "scope",
                    "state", "claims", "nonce"}
TOKEN_PARAMS = {"client_id", "client_secret", "code", "grant_type", "redirect_uri",
                "refresh_token"}


def _error(status: int, message: str, error: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "message": message}
    if error:
        body = {"error": error, **body}
    return JSONResponse(body, status)


class FakeTwitch(FakeProvider):
    strategy = "twitch"
    hosts = ("id.twitch.tv", "api.twitch.tv")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_hex(15)
        self.client_secret = secrets.token_hex(15)
        self.access_ttl = 14124
        self.user = {"id": "141981764", "login": "twitchdev", "display_name": "TwitchDev",
                     "type": "", "broadcaster_type": "partner",
                     "description": "Supporting third-party developers building Twitch "
                                    "integrations from chatbots to game integrations.",
                     "profile_image_url": "https://static-cdn.jtvnw.net/jtv_user_pictures/"
                                          "8a6381c7-d0c0-4576-b179-38bd5ce1d6af-profile_image"
                                          "-300x300.png",
                     "offline_image_url": "", "view_count": 5980557,
                     "email": "not-real@email.com", "created_at": "2016-12-14T20:32:28Z"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "141981764", "user_id": "twitch|141981764",
                "email": "not-real@email.com", "email_verified": False, "name": "TwitchDev",
                "nickname": "twitchdev", "picture": self.user["profile_image_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"status": 400, "message": "Invalid authorization code"}

    # --- id.twitch.tv -----------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id:
            return Response("invalid client", 400)  # an error page
        if q.get("redirect_uri") != CALLBACK:
            back = {"error": "redirect_mismatch",
                    "error_description": "Parameter+redirect_uri+does+not+match",
                    "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        back = {"state": q.get("state", "")}
        if q.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        else:
            code = secrets.token_hex(15)
            self.codes[code] = {"scopes": q.get("scope", "").split()}
            back.update(code=code, scope=q.get("scope", ""))
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, TOKEN_PARAMS) or "authorization" in request.headers:
            return _error(400, "invalid request")
        if form.get("client_id") != self.client_id:
            return _error(400, "invalid client")
        if form.get("client_secret") != self.client_secret:
            return _error(403, "invalid client secret")
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error(400, "Invalid refresh token", "Bad Request")
            old.live = False
            body = self._pair(old.scopes, old.grant)
            del body["expires_in"]  # Twitch's documented refresh answer has no expires_in
            return JSONResponse(body)
        if form.get("grant_type") != "authorization_code":
            return _error(400, "Invalid grant type")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return _error(400, "Invalid authorization code")
        if form.get("redirect_uri") != CALLBACK:
            return _error(400, "Parameter redirect_uri does not match registered URI")
        return JSONResponse(self._pair(grant["scopes"], secrets.token_hex(8)))

    def _pair(self, scopes: list[str], grant: str) -> dict[str, Any]:
        return {"access_token": self.issue("access_token", scopes, grant, "",
                                           time.time() + self.access_ttl),
                "expires_in": self.access_ttl,
                "refresh_token": self.issue("refresh_token", scopes, grant),
                "scope": scopes, "token_type": "bearer"}

    def _live_access(self, token: str) -> bool:
        issued = self.tokens.get(token)
        return issued is not None and issued.live and issued.kind == "access_token" \
            and (issued.expires_at or 0) > time.time()

    async def validate(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "OAuth" or not self._live_access(token):
            return _error(401, "invalid access token")
        issued = self.tokens[token]
        return JSONResponse({"client_id": self.client_id, "login": self.user["login"],
                             "scopes": issued.scopes, "user_id": self.user["id"],
                             "expires_in": int((issued.expires_at or 0) - time.time())})

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if set(form) != {"client_id", "token"}:
            return _error(400, "missing client id")
        if form["client_id"] != self.client_id:
            return _error(404, "client does not exist")
        issued = self.tokens.get(form["token"])
        if issued is None or not issued.live or issued.kind != "access_token":
            return _error(400, "Invalid token")
        self.kill_grant(form["token"])
        return Response(status_code=200)

    # --- api.twitch.tv ----------------------------------------------------------------------

    async def users(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not self._live_access(token):
            return _error(401, "Invalid OAuth token", "Unauthorized")
        if request.headers.get("client-id") != self.client_id:
            return _error(401, "Client ID and OAuth token do not match", "Unauthorized")
        if request.query_params:
            return _error(400, "this fake serves only the token's own user", "Bad Request")
        user = dict(self.user)
        if "user:read:email" not in self.tokens[token].scopes:
            user.pop("email")
        return JSONResponse({"data": [user]})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/oauth2/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/oauth2/token", c("token", self.token), methods=["POST"]),
            Route("/oauth2/validate", c("validate", self.validate), methods=["GET"]),
            Route("/oauth2/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/helix/users", c("profile", self.users), methods=["GET"]),
        ])
        return HostGuard(app, {"id.twitch.tv": ["/oauth2/"], "api.twitch.tv": ["/helix/"]})


STRATEGY = "twitch"


def make_fake() -> FakeTwitch:
    return FakeTwitch()
