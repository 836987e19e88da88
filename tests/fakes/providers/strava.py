"""A fake of Strava's OAuth endpoints and the athlete call, as documented
(developers.strava.com/docs/authentication, /docs/reference "Get Authenticated Athlete").

Strava's rules kept here: everything on www.strava.com; the authorize page wants
``response_type=code`` and ``approval_prompt`` ``auto``/``force``, takes comma-separated scopes,
and redirects back with ``code``, ``scope`` (what the athlete accepted) and ``state``; the
token endpoint takes ``client_id``/``client_secret`` in the form body (no Basic auth), answers
``token_type: "Bearer"``, ``expires_at``, ``expires_in``, ``refresh_token``, ``access_token``
and, for a code, the ``athlete`` summary; refreshing returns a new refresh token and retires
the old one; errors are faults ``{"message", "errors": [{"resource", "field", "code"}]}``;
deauthorization takes ``access_token`` and kills every token of the grant.
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

AUTHORIZE_PARAMS = {"client_id", "redirect_uri", "response_type", "approval_prompt", "scope",
                    "state"}
KNOWN_SCOPES = {"read", "read_all", "profile:read_all", "profile:write", "activity:read",
                "activity:read_all", "activity:write"}


def fault(message: str, resource: str, field: str, code: str, status: int) -> JSONResponse:
    return JSONResponse({"message": message,
                         "errors": [{"resource": resource, "field": field, "code": code}]},
                        status)


class FakeStrava(FakeProvider):
    strategy = "strava"
    hosts = ("www.strava.com",)

    def __init__(self) -> None:
        super().__init__()
        self.client_id = str(secrets.randbelow(900000) + 100000)  # Strava client ids are numbers
        self.access_ttl = 21600
        self.athlete = {"id": 134815, "username": "jane_runs", "resource_state": 2,
                        "firstname": "Jane", "lastname": "Runner", "bio": "", "city": "Porto",
                        "state": "Porto", "country": "Portugal", "sex": "F", "premium": True,
                        "summit": True, "created_at": "2014-11-01T10:48:26Z",
                        "updated_at": "2024-02-01T08:00:00Z", "badge_type_id": 1,
                        "weight": 0.0, "profile_medium": "https://dgalywyr863hv.cloudfront.net"
                        "/pictures/athletes/134815/medium.jpg",
                        "profile": "https://dgalywyr863hv.cloudfront.net/pictures/athletes/"
                        "134815/large.jpg", "friend": None, "follower": None}
        self.refreshes_rotate = True
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "134815", "user_id": "strava|134815",
                "name": "Jane Runner", "given_name": "Jane", "family_name": "Runner",
                "nickname": "jane_runs", "picture": self.athlete["profile"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"message": "Bad Request",
                     "errors": [{"resource": "AuthorizationCode", "field": "code",
                                 "code": "invalid"}]}

    # --- endpoints ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("response_type") != "code" \
                or q.get("approval_prompt", "auto") not in ("auto", "force") \
                or q.get("redirect_uri") != CALLBACK:
            return JSONResponse({"message": "Bad Request", "errors": [
                {"resource": "Application", "field": "redirect_uri", "code": "invalid"}]}, 400)
        asked = [s for s in q.get("scope", "").split(",") if s]
        if " " in q.get("scope", ""):
            return fault("Bad Request", "Authorize", "scope", "invalid", 400)
        granted = [s for s in asked if s in KNOWN_SCOPES] or ["read"]
        code = secrets.token_hex(20)
        self.codes[code] = {"scopes": granted}
        back = {"state": q.get("state", ""), "code": code, "scope": ",".join(granted)}
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if request.headers.get("authorization"):
            return fault("Bad Request", "Application", "client_id", "invalid", 400)
        if unknown(form, {"client_id", "client_secret", "code", "grant_type", "refresh_token"}):
            return fault("Bad Request", "Application", "grant_type", "invalid", 400)
        if form.get("client_id") != self.client_id:
            return fault("Bad Request", "Application", "client_id", "invalid", 400)
        if form.get("client_secret") != self.client_secret:
            return fault("Bad Request", "Application", "client_secret", "invalid", 400)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return fault("Bad Request", "AuthorizationCode", "code", "invalid", 400)
            body = self._tokens(grant["scopes"], secrets.token_hex(8))
            body["athlete"] = self.athlete
            return JSONResponse(body)
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return fault("Bad Request", "RefreshToken", "refresh_token", "invalid", 400)
            if self.refreshes_rotate:
                old.live = False
            return JSONResponse(self._tokens(old.scopes, old.grant,
                                             None if self.refreshes_rotate else old.value))
        return fault("Bad Request", "Application", "grant_type", "invalid", 400)

    def _tokens(self, scopes: list[str], grant: str, refresh: str | None = None
                ) -> dict[str, Any]:
        expires = int(time.time()) + self.access_ttl
        return {"token_type": "Bearer", "expires_at": expires, "expires_in": self.access_ttl,
                "refresh_token": refresh or self.issue("refresh_token", scopes, grant),
                "access_token": self.issue("access_token", scopes, grant, ttl=expires)}

    def _access(self, request: Request, form: dict[str, str] | None = None) -> str | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else (form or {}).get("access_token", "")
        issued = self.tokens.get(token)
        if issued is None or not issued.live or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return token

    async def get_athlete(self, request: Request) -> Response:
        if self._access(request) is None:
            return fault("Authorization Error", "Athlete", "access_token", "invalid", 401)
        return JSONResponse({**self.athlete, "resource_state": 3, "follower_count": 5,
                             "friend_count": 5, "measurement_preference": "meters", "ftp": None,
                             "clubs": [], "bikes": [], "shoes": []})

    async def deauthorize(self, request: Request) -> Response:
        form = await form_of(request)
        if not form:
            form = dict(request.query_params)
        if unknown(form, {"access_token"}):
            return fault("Bad Request", "Application", "access_token", "invalid", 400)
        token = self._access(request, form)
        if token is None:
            return fault("Authorization Error", "Athlete", "access_token", "invalid", 401)
        self.kill_grant(token)
        return JSONResponse({"access_token": token})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/oauth/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/oauth/token", c("token", self.token), methods=["POST"]),
            Route("/oauth/deauthorize", c("revoke", self.deauthorize), methods=["POST"]),
            Route("/api/v3/athlete", c("validate", self.get_athlete), methods=["GET"]),
        ])
        return HostGuard(app, {"www.strava.com": ["/oauth/", "/api/v3/"]})


STRATEGY = "strava"


def make_fake() -> FakeStrava:
    return FakeStrava()
