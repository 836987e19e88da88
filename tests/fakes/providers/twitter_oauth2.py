"""A fake of X's (Twitter's) OAuth 2.0 Authorization Code Flow with PKCE and the v2 endpoints
idbroker uses, as documented (docs.x.com: "OAuth 2.0 Authorization Code Flow with PKCE", "How
to connect to endpoints using OAuth 2.0", "GET /2/users/me"): the consent page at
twitter.com/i/oauth2/authorize; /2/oauth2/token, /2/oauth2/revoke and /2/users/me at
api.twitter.com.

X's rules kept here: PKCE (``code_challenge``) and ``state`` are required; a confidential
client authenticates with HTTP Basic; a refresh token only with ``offline.access``, rotated on
every refresh; a dead code or refresh token is HTTP 400 ``invalid_request``; access tokens
live two hours; revocation answers ``{"revoked": true}`` and (an assumption, as RFC 7009
§2.1 suggests) revoking a refresh token ends its access tokens too; /2/users/me wraps the
user in ``data`` and answers 401 in X's problem shape for a dead token.
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

AUTHORIZE_PARAMS = {"response_type", "client_id", "redirect_uri", "scope", "state",
                    "code_challenge", "code_challenge_method"}
USER_FIELDS = {"created_at", "description", "entities", "id", "location", "name",
               "pinned_tweet_id", "profile_image_url", "protected", "public_metrics", "url",
               "username", "verified", "verified_type", "withheld"}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakeTwitterOAuth2(FakeProvider):
    strategy = "twitter-oauth2"
    hosts = ("twitter.com", "api.twitter.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "M1M5R3BMVy13QmpScXkzTUt5OE46MTpjaQ"
        self.access_ttl = 7200
        self.user = {"id": "2244994945", "name": "Jane Xavier", "username": "janex",
                     "profile_image_url": "https://pbs.twimg.com/profile_images/1/jane_normal.jpg",
                     "verified": False, "description": "", "location": "Lisbon"}
        self.fields_asked: list[str] = []
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["id"], "user_id": f"twitter-oauth2|{self.user['id']}",
                "email_verified": False, "name": "Jane Xavier", "nickname": "janex",
                "picture": self.user["profile_image_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_request",
                     "error_description": "Value passed for the authorization code was invalid."}

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK or q.get("response_type") != "code" \
                or not q.get("state") or not q.get("code_challenge") \
                or q.get("code_challenge_method") not in ("S256", "plain") or not q.get("scope"):
            return Response("Something went wrong. You weren't able to give access to the App.",
                            400)
        code = secrets.token_urlsafe(30)
        self.codes[code] = {"scopes": q["scope"].split(), "challenge": q["code_challenge"],
                            "method": q["code_challenge_method"]}
        return RedirectResponse(CALLBACK + "?" + urlencode({"state": q["state"], "code": code}),
                                302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return False  # this fake app is a confidential client
        cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        return cid == self.client_id and secret == self.client_secret \
            and form.get("client_id", cid) == cid

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"grant_type", "code", "redirect_uri", "code_verifier", "client_id",
                          "refresh_token"}):
            return _error("invalid_request", "Missing required parameter [grant_type].")
        if not self._client_ok(request, form):
            return _error("unauthorized_client", "Missing valid authorization header", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return _error("invalid_request",
                              "Value passed for the authorization code was invalid.")
            verifier = form.get("code_verifier", "")
            if (s256(verifier) if grant["method"] == "S256" else verifier) != grant["challenge"]:
                return _error("invalid_request", "Value passed for the code_verifier was invalid.")
            return JSONResponse(self._tokens(grant["scopes"], secrets.token_hex(8)))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_request", "Value passed for the token was invalid.")
            old.live = False  # rotated
            return JSONResponse(self._tokens(old.scopes, old.grant))
        return _error("invalid_request", "Value passed for the grant type was invalid.")

    def _tokens(self, scopes: list[str], grant: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token_type": "bearer", "expires_in": self.access_ttl, "scope": " ".join(scopes),
            "access_token": self.issue("access_token", scopes, grant, "",
                                       time.time() + self.access_ttl)}
        if "offline.access" in scopes:
            body["refresh_token"] = self.issue("refresh_token", scopes, grant)
        return body

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"token", "token_type_hint", "client_id"}) or not form.get("token"):
            return _error("invalid_request", "Missing required parameter [token].")
        if not self._client_ok(request, form):
            return _error("unauthorized_client", "Missing valid authorization header", 401)
        if form["token"] in self.tokens:
            issued = self.tokens[form["token"]]
            if issued.kind == "refresh_token":
                self.kill_grant(form["token"])
            else:
                issued.live = False
        return JSONResponse({"revoked": True})

    async def me(self, request: Request) -> Response:
        if "user.fields" not in request.query_params:
            # idbroker's validation probe asks for no fields; its profile read does.
            self.calls["validate"] += 1
            queued = self._failures.get("validate")
            if queued:
                failure = queued.pop(0)
                return JSONResponse(failure.body, failure.status, headers=failure.headers)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or not issued.live \
                or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return JSONResponse({"title": "Unauthorized", "type": "about:blank",
                                 "status": 401, "detail": "Unauthorized"}, 401)
        fields = [f for f in request.query_params.get("user.fields", "").split(",") if f]
        if unknown(dict(request.query_params), {"user.fields", "expansions", "tweet.fields"}) \
                or not set(fields) <= USER_FIELDS:
            return JSONResponse({"errors": [{"parameters": {"user.fields": fields},
                                             "message": "invalid user.fields"}],
                                 "title": "Invalid Request", "detail": "invalid request",
                                 "type": "https://api.twitter.com/2/problems/invalid-request"},
                                400)
        self.fields_asked = fields
        user = {k: v for k, v in self.user.items()
                if k in ("id", "name", "username") or k in fields}
        return JSONResponse({"data": user})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/i/oauth2/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/2/oauth2/token", c("token", self.token), methods=["POST"]),
            Route("/2/oauth2/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/2/users/me", c("me", self.me), methods=["GET"]),
        ])
        return HostGuard(app, {"twitter.com": ["/i/oauth2/authorize"],
                               "api.twitter.com": ["/2/oauth2/", "/2/users/me"]})


STRATEGY = "twitter-oauth2"
make_fake = FakeTwitterOAuth2
