"""A fake of Reddit's OAuth2 endpoints and the identity calls idbroker makes, as documented
(github.com/reddit-archive/reddit/wiki/OAuth2, reddit.com/dev/api "account" section,
github.com/reddit-archive/reddit/wiki/API "User-Agent" rules).

Reddit's rules kept here: www.reddit.com serves authorize, access_token and revoke_token,
oauth.reddit.com the API; the authorize page wants ``client_id``, ``response_type=code``,
``state``, ``redirect_uri``, ``duration`` (``temporary``/``permanent``) and ``scope``, and
redirects back with ``state`` and ``code``; the token endpoint wants HTTP Basic client
credentials (401 without them) and a form body, answers ``{"access_token", "token_type":
"bearer", "expires_in", "scope", "refresh_token"}`` (a refresh token only for
``duration=permanent``; a refresh keeps the same refresh token) and ``{"error":
"invalid_grant"}`` for a used/unknown code or a dead refresh token; revoke_token answers 204
for any token, and revoking a refresh token ends its access tokens; a missing or generic
User-Agent is answered 429.
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

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "response_type", "state", "redirect_uri", "duration", "scope"}


class FakeReddit(FakeProvider):
    strategy = "reddit"
    hosts = ("www.reddit.com", "oauth.reddit.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_urlsafe(16)
        self.me = {"id": "1w72xq", "name": "jane_redditor", "is_employee": False,
                   "has_verified_email": True, "created_utc": 1420070400.0,
                   "icon_img": "https://styles.redditmedia.com/t5_abc/styles/profileIcon.png"
                               "?width=256&height=256&s=0123abcd",
                   "snoovatar_img": "", "total_karma": 1234, "over_18": False,
                   "subreddit": {"display_name": "u_jane_redditor"}}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "1w72xq", "user_id": "reddit|1w72xq",
                "nickname": "jane_redditor", "name": "jane_redditor",
                "picture": self.me["icon_img"]}

    def token_error(self) -> tuple[int, Any]:
        return 200, {"error": "invalid_grant"}

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _throttled(request: Request) -> Response | None:
        agent = request.headers.get("user-agent", "")
        if not agent or agent.lower().startswith(("python-httpx", "python-requests")):
            return JSONResponse({"message": "Too Many Requests", "error": 429}, 429)
        return None

    def _client_ok(self, request: Request) -> bool:
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        cid, _, secret = base64.b64decode(raw).decode().partition(":")
        return cid == self.client_id and secret == self.client_secret

    # --- www.reddit.com ---------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK \
                or q.get("duration") not in ("temporary", "permanent"):
            return Response("bad request (reddit.com)", 400)
        if q.get("response_type") != "code":
            back = {"error": "unsupported_response_type", "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        if "," in q.get("scope", ""):
            back = {"error": "invalid_scope", "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        code = secrets.token_urlsafe(20)
        self.codes[code] = {"scopes": q.get("scope", "").split(),
                            "permanent": q["duration"] == "permanent"}
        return RedirectResponse(CALLBACK + "?" + urlencode({"state": q.get("state", ""),
                                                            "code": code}), 302)

    async def token(self, request: Request) -> Response:
        if throttled := self._throttled(request):
            return throttled
        if not self._client_ok(request):
            return JSONResponse({"message": "Unauthorized", "error": 401}, 401)
        form = await form_of(request)
        if unknown(form, {"grant_type", "code", "redirect_uri", "refresh_token"}):
            return JSONResponse({"error": "invalid_request"}, 400)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return JSONResponse({"error": "invalid_grant"})
            grant_id = secrets.token_hex(8)
            refresh = self.issue("refresh_token", grant["scopes"], grant_id) \
                if grant["permanent"] else None
            return JSONResponse(self._tokens(grant["scopes"], grant_id, refresh))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return JSONResponse({"error": "invalid_grant"})
            return JSONResponse(self._tokens(old.scopes, old.grant, old.value))
        return JSONResponse({"error": "unsupported_grant_type"})

    def _tokens(self, scopes: list[str], grant: str, refresh: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.issue("access_token", scopes, grant, "eyJhbGciOi.",
                                       time.time() + self.access_ttl),
            "token_type": "bearer", "expires_in": self.access_ttl, "scope": " ".join(scopes)}
        if refresh:
            body["refresh_token"] = refresh
        return body

    async def revoke(self, request: Request) -> Response:
        if throttled := self._throttled(request):
            return throttled
        if not self._client_ok(request):
            return JSONResponse({"message": "Unauthorized", "error": 401}, 401)
        form = await form_of(request)
        if unknown(form, {"token", "token_type_hint"}) or not form.get("token") \
                or form.get("token_type_hint", "access_token") not in ("access_token",
                                                                       "refresh_token"):
            return JSONResponse({"error": "unsupported_token_type"}, 400)
        issued = self.tokens.get(form["token"])
        if issued is not None:
            if issued.kind == "refresh_token":
                self.kill_grant(issued.value)
            else:
                issued.live = False
        return Response(status_code=204)

    # --- oauth.reddit.com -------------------------------------------------------------------------

    def _bearer(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        issued = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if issued is None or not issued.live or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return issued.value

    async def get_me(self, request: Request) -> Response:
        if throttled := self._throttled(request):
            return throttled
        token = self._bearer(request)
        if token is None:
            return JSONResponse({"message": "Unauthorized", "error": 401}, 401)
        if "identity" not in self.tokens[token].scopes:
            return JSONResponse({"message": "Forbidden", "error": 403}, 403)
        return JSONResponse(self.me)

    async def get_prefs(self, request: Request) -> Response:
        if throttled := self._throttled(request):
            return throttled
        token = self._bearer(request)
        if token is None:
            return JSONResponse({"message": "Unauthorized", "error": 401}, 401)
        if "identity" not in self.tokens[token].scopes:
            return JSONResponse({"message": "Forbidden", "error": 403}, 403)
        return JSONResponse({"lang": "en"})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/api/v1/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/api/v1/access_token", c("token", self.token), methods=["POST"]),
            Route("/api/v1/revoke_token", c("revoke", self.revoke), methods=["POST"]),
            Route("/api/v1/me", c("profile", self.get_me), methods=["GET"]),
            Route("/api/v1/me/prefs", c("validate", self.get_prefs), methods=["GET"]),
        ])
        return HostGuard(app, {
            "www.reddit.com": ["/api/v1/authorize", "/api/v1/access_token",
                               "/api/v1/revoke_token"],
            "oauth.reddit.com": ["/api/v1/me"]})


STRATEGY = "reddit"


def make_fake() -> FakeReddit:
    return FakeReddit()
