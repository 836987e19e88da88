"""A fake of Zoom's user-authorized OAuth 2.0 flow and the calls idbroker makes, as documented
(developers.zoom.us: "OAuth for user authorized apps", "Using OAuth 2.0", "OAuth error
messages", "Revoke an access token", API reference "Get a user").

Zoom's rules kept here: authorize, token and revoke are on zoom.us, the REST API on
api.zoom.us; the token and revoke endpoints authenticate the client with HTTP Basic only
(credentials in the form are refused); PKCE (S256 or plain) binds the code; a token
response carries ``access_token``, ``token_type: "bearer"``, ``refresh_token``,
``expires_in: 3599`` and ``scope``; a refresh returns a new refresh token and the old one
stops working; token errors are HTTP 400 ``{"reason", "error"}`` (``invalid_request`` for a
bad code, ``invalid_grant`` "Invalid Token!" for a dead refresh token, ``invalid_client``);
``/v2/users/me`` answers the user (``id``, ``email``, ``verified`` 1/0, ``pic_url``) or 401
``{"code": 124, "message": "Invalid access token."}``; revocation answers
``{"status": "success"}`` and ends the whole authorization.

The same ``/v2/users/me`` serves the login's profile read and idbroker's validation probe;
the fake counts a token's first read as ``profile`` and later ones as ``validate``.
"""

from __future__ import annotations

import base64
import hashlib
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

AUTHORIZE_PARAMS = {"response_type", "client_id", "redirect_uri", "state", "scope",
                    "code_challenge", "code_challenge_method"}
TOKEN_PARAMS = {"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token"}


def _error(error: str, reason: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"reason": reason, "error": error}, status)


def _challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class FakeZoom(FakeProvider):
    strategy = "zoom"
    hosts = ("zoom.us", "api.zoom.us")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_urlsafe(16)
        self.client_secret = secrets.token_urlsafe(24)
        self.access_ttl = 3599
        self.user = {"id": "KDcuGIm1QgePTO8WbOqwIQ", "first_name": "Jill", "last_name": "Chill",
                     "display_name": "Jill Chill", "email": "jchill@example.com", "type": 1,
                     "role_name": "Owner", "pmi": 3542471135, "use_pmi": False,
                     "personal_meeting_url": "https://zoom.us/j/3542471135",
                     "timezone": "Asia/Shanghai", "verified": 1, "dept": "",
                     "created_at": "2019-06-01T07:58:03Z",
                     "last_login_time": "2019-06-01T07:58:03Z",
                     "pic_url": "https://lh4.googleusercontent.com/-someurl/photo.jpg",
                     "language": "en-US", "phone_number": "", "status": "active",
                     "role_id": "0", "account_id": "q6gBJVO5TzexKYTb_I2rpg",
                     "account_number": 10009239, "cluster": "us05"}
        self.seen: set[str] = set()  # access tokens that already read /v2/users/me
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["id"], "user_id": f"zoom|{self.user['id']}",
                "email": "jchill@example.com", "email_verified": True, "name": "Jill Chill",
                "given_name": "Jill", "family_name": "Chill", "picture": self.user["pic_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"reason": "Invalid authorization code", "error": "invalid_request"}

    # --- zoom.us ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("response_type") != "code" or q.get("redirect_uri") != CALLBACK:
            return Response("Invalid client_id or redirect_uri (4700)", 400)  # an error page
        if q.get("code_challenge") and q.get("code_challenge_method", "plain") not in \
                ("S256", "plain"):
            return Response("Invalid code_challenge_method", 400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"scopes": q.get("scope", "").split(),
                            "challenge": q.get("code_challenge"),
                            "method": q.get("code_challenge_method", "plain")}
        back = {"code": code}
        if "state" in q:
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    def _basic_client(self, request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic ") or "client_secret" in form or "client_id" in form:
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.client_id and password == self.client_secret

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if not self._basic_client(request, form):
            return _error("invalid_client", "Invalid client_id or client_secret", 401)
        if unknown(form, TOKEN_PARAMS):
            return _error("invalid_request", "Invalid request parameter")
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "Invalid Token!")
            old.live = False  # rotated: the newest refresh token is the one to keep
            return JSONResponse(self._pair(old.scopes, old.grant))
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "Unsupported grant type")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return _error("invalid_request", "Invalid authorization code")
        if form.get("redirect_uri") != CALLBACK:
            return _error("invalid_request", "Redirect URI mismatch.")
        if grant["challenge"] and \
                _challenge(form.get("code_verifier", ""), grant["method"]) != grant["challenge"]:
            return _error("invalid_request", "Invalid code_verifier")
        return JSONResponse(self._pair(grant["scopes"], secrets.token_hex(8)))

    def _pair(self, scopes: list[str], grant: str) -> dict[str, Any]:
        return {"access_token": self.issue("access_token", scopes, grant, "eyJ",
                                           time.time() + self.access_ttl),
                "token_type": "bearer",
                "refresh_token": self.issue("refresh_token", scopes, grant, "eyJ"),
                "expires_in": self.access_ttl, "scope": " ".join(scopes)}

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if not self._basic_client(request, form):
            return _error("invalid_client", "Invalid client_id or client_secret", 401)
        if set(form) != {"token"}:
            return _error("invalid_request", "Token cannot be empty.")
        issued = self.tokens.get(form["token"])
        if issued is None or not issued.live:
            return _error("invalid_token", "Invalid Token!")
        self.kill_grant(form["token"])
        return JSONResponse({"status": "success"})

    # --- api.zoom.us ------------------------------------------------------------------------

    async def users_me(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or issued.kind != "access_token" \
                or not issued.live or (issued.expires_at or 0) < time.time():
            return JSONResponse({"code": 124, "message": "Invalid access token."}, 401)
        return JSONResponse(self.user)

    def _build(self) -> ASGIApp:
        c = self.counted
        profile, validate = c("profile", self.users_me), c("validate", self.users_me)

        async def me(request: Request) -> Response:
            token = request.headers.get("authorization", "").partition(" ")[2]
            first = token not in self.seen
            self.seen.add(token)
            return await (profile if first else validate)(request)

        app = Starlette(routes=[
            Route("/oauth/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/oauth/token", c("token", self.token), methods=["POST"]),
            Route("/oauth/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/v2/users/me", me, methods=["GET"]),
        ])
        return HostGuard(app, {"zoom.us": ["/oauth/"], "api.zoom.us": ["/v2/users/me"]})


STRATEGY = "zoom"


def make_fake() -> FakeZoom:
    return FakeZoom()
