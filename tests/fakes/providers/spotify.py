"""A fake of Spotify's authorization code flow and ``/v1/me``, as documented
(developer.spotify.com: "Authorization Code Flow", "Authorization Code with PKCE Flow",
"Refreshing tokens", "Authorization" error shapes, Web API "Get Current User's Profile").

Spotify's rules kept here: ``/authorize`` and ``/api/token`` on accounts.spotify.com, the Web
API on api.spotify.com; ``/authorize`` takes ``client_id``, ``response_type``,
``redirect_uri``, ``state``, ``scope``, ``show_dialog`` and the PKCE pair (S256 only); the
token endpoint wants ``Content-Type: application/x-www-form-urlencoded`` and Basic client
credentials (a PKCE client may send ``client_id`` in the form instead); its answer is
``token_type: "Bearer"``, ``expires_in: 3600``, ``scope`` and a ``refresh_token``; a refresh
answers a new access token and, when ``rotate`` is set, a new refresh token that replaces the
old one; without it no refresh token comes back and the old one keeps working. Errors are
RFC 6749 bodies with HTTP 400 (``invalid_grant``: "Invalid authorization code", "Invalid
refresh token"; ``invalid_client``). Web API errors are ``{"error": {"status", "message"}}``.
There is no revocation endpoint.

``/v1/me`` serves both the login's profile read and idbroker's validation probe; the fake
counts a token's first read as ``profile`` and later ones as ``validate``.
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

AUTHORIZE_PARAMS = {"client_id", "response_type", "redirect_uri", "state", "scope",
                    "show_dialog", "code_challenge_method", "code_challenge"}
TOKEN_PARAMS = {"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token",
                "client_id"}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakeSpotify(FakeProvider):
    strategy = "spotify"
    hosts = ("accounts.spotify.com", "api.spotify.com")

    def __init__(self, rotate: bool = True) -> None:
        super().__init__()
        self.client_id = secrets.token_hex(16)
        self.client_secret = secrets.token_hex(16)
        self.rotate = rotate
        self.user = {
            "country": "SE", "display_name": "JM Wizzler", "email": "jmwizzler@example.com",
            "explicit_content": {"filter_enabled": False, "filter_locked": False},
            "external_urls": {"spotify": "https://open.spotify.com/user/wizzler"},
            "followers": {"href": None, "total": 3829},
            "href": "https://api.spotify.com/v1/users/wizzler", "id": "wizzler",
            "images": [{"url": "https://i.scdn.co/image/ab67616d00001e02ff9ca10b55ce82ae553c8228",
                        "height": 300, "width": 300}],
            "product": "premium", "type": "user", "uri": "spotify:user:wizzler"}
        self.seen: set[str] = set()
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "wizzler", "user_id": "spotify|wizzler",
                "email": "jmwizzler@example.com", "email_verified": False,
                "name": "JM Wizzler", "nickname": "wizzler",
                "picture": self.user["images"][0]["url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "Invalid authorization code"}

    # --- accounts.spotify.com ---------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id:
            return Response("INVALID_CLIENT: Invalid client", 400)  # an error page
        if q.get("redirect_uri") != CALLBACK:
            return Response("INVALID_CLIENT: Invalid redirect URI", 400)
        back = {"state": q.get("state", "")}
        if q.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        elif q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(32)
            self.codes[code] = {"scopes": q.get("scope", "").split(),
                                "challenge": q.get("code_challenge")}
            back["code"] = code
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user == self.client_id and password == self.client_secret \
                and "client_id" not in form
        # A PKCE client without a secret names itself in the form.
        return form.get("client_id") == self.client_id and bool(form.get("code_verifier")
                                                                 or form.get("refresh_token"))

    async def token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != \
                "application/x-www-form-urlencoded":
            return _error("invalid_request", "Content-Type must be form-urlencoded")
        form = await form_of(request)
        if unknown(form, TOKEN_PARAMS):
            return _error("invalid_request", "Unsupported parameter")
        if not self._client_ok(request, form):
            return _error("invalid_client", "Invalid client")
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "Invalid refresh token")
            body = {"access_token": self.issue("access_token", old.scopes, old.grant, "BQ",
                                               time.time() + self.access_ttl),
                    "token_type": "Bearer", "scope": " ".join(old.scopes),
                    "expires_in": self.access_ttl}
            if self.rotate:
                old.live = False
                body["refresh_token"] = self.issue("refresh_token", old.scopes, old.grant, "AQ")
            return JSONResponse(body)
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "grant_type parameter is invalid")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return _error("invalid_grant", "Invalid authorization code")
        if form.get("redirect_uri") != CALLBACK:
            return _error("invalid_grant", "Invalid redirect URI")
        if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
            return _error("invalid_grant", "code_verifier was incorrect")
        family = secrets.token_hex(8)
        return JSONResponse({
            "access_token": self.issue("access_token", grant["scopes"], family, "BQ",
                                       time.time() + self.access_ttl),
            "token_type": "Bearer", "scope": " ".join(grant["scopes"]),
            "expires_in": self.access_ttl,
            "refresh_token": self.issue("refresh_token", grant["scopes"], family, "AQ")})

    # --- api.spotify.com --------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or issued.kind != "access_token" \
                or not issued.live:
            return JSONResponse({"error": {"status": 401, "message": "Invalid access token"}},
                                401)
        if (issued.expires_at or 0) < time.time():
            return JSONResponse({"error": {"status": 401,
                                           "message": "The access token expired"}}, 401)
        body = dict(self.user)
        if "user-read-email" not in issued.scopes:
            body.pop("email")
        if "user-read-private" not in issued.scopes:
            for key in ("country", "product", "explicit_content"):
                body.pop(key)
        return JSONResponse(body)

    def _build(self) -> ASGIApp:
        c = self.counted
        profile, validate = c("profile", self.me), c("validate", self.me)

        async def me(request: Request) -> Response:
            token = request.headers.get("authorization", "").partition(" ")[2]
            first = token not in self.seen
            self.seen.add(token)
            return await (profile if first else validate)(request)

        app = Starlette(routes=[
            Route("/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/api/token", c("token", self.token), methods=["POST"]),
            Route("/v1/me", me, methods=["GET"]),
        ])
        return HostGuard(app, {"accounts.spotify.com": ["/authorize", "/api/token"],
                               "api.spotify.com": ["/v1/me"]})


STRATEGY = "spotify"


def make_fake() -> FakeSpotify:
    return FakeSpotify()
