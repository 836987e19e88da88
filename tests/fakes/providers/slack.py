"""A fake of Sign in with Slack, as documented (api.slack.com/authentication/sign-in-with-slack,
the ``openid.connect.token``, ``openid.connect.userInfo``, ``auth.test`` and ``auth.revoke``
methods, and "Token rotation"): the consent page and JWKS at slack.com/openid/connect/, the
Web API methods at slack.com/api/.

Slack's rules kept here: authorize takes ``response_type=code``, ``scope``, ``client_id``,
``state``, ``nonce``, ``redirect_uri`` and ``team`` only (no PKCE); Web API errors come with
HTTP 200 and ``{"ok": false, "error": ...}``; client credentials in the form body or as Basic;
with token rotation on (``rotation``), a code grant also returns ``refresh_token`` and a
12-hour ``expires_in``, and a refresh returns a new refresh token; ``auth.revoke`` takes the
token as a bearer token or a ``token`` field and answers ``{"ok": true, "revoked": true}``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from functools import cache
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"response_type", "scope", "client_id", "state", "team", "nonce",
                    "redirect_uri"}
SCOPES = {"openid", "profile", "email", "extra.scope"}  # extra.scope: the conformance suite's
TEAM = "T0R7GR"


@cache
def _key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


def _fail(error: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error})  # Slack: HTTP 200


def _at_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class FakeSlack(FakeProvider):
    strategy = "sign-in-with-slack"
    hosts = ("slack.com",)

    def __init__(self, rotation: bool = True) -> None:
        super().__init__()
        self.client_id = f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}"
        self.client_secret = secrets.token_hex(16)
        self.rotation = rotation
        self.access_ttl = 43200
        self.user = {"sub": "U0R7JM", "https://slack.com/user_id": "U0R7JM",
                     "https://slack.com/team_id": TEAM, "email": "krane@slack-corp.example",
                     "email_verified": True, "date_email_verified": 1622128723,
                     "name": "krane", "picture": "https://secure.gravatar.com/avatar/k.jpg",
                     "given_name": "Bront", "family_name": "Labradoodle", "locale": "en-US",
                     "https://slack.com/team_name": "kraneflannel",
                     "https://slack.com/team_domain": "kraneflannel"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "U0R7JM", "user_id": "sign-in-with-slack|U0R7JM",
                "email": self.user["email"], "email_verified": True, "name": "krane",
                "given_name": "Bront", "family_name": "Labradoodle",
                "picture": self.user["picture"]}

    def token_error(self) -> tuple[int, Any]:
        return 200, {"ok": False, "error": "invalid_code"}

    # --- slack.com/openid/connect -------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        scopes = q.get("scope", "").split(" ")
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("response_type") != "code" or not set(scopes) <= SCOPES \
                or "openid" not in scopes or q.get("redirect_uri") != CALLBACK:
            return Response("Something's gone wrong: invalid request", 400)
        code = f"{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.codes[code] = {"scopes": scopes, "nonce": q.get("nonce")}
        back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def keys(self, request: Request) -> Response:
        return JSONResponse({"keys": [_key().as_dict(private=False)]})

    # --- slack.com/api ------------------------------------------------------------------------

    def _client(self, request: Request, form: dict[str, str]) -> str | None:
        """None when the client authenticated, else Slack's error code."""
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        if scheme == "Basic":
            cid, _, secret = base64.b64decode(raw).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if cid != self.client_id:
            return "invalid_client_id"
        return None if secret == self.client_secret else "bad_client_secret"

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"client_id", "client_secret", "code", "redirect_uri", "grant_type",
                          "refresh_token"}):
            return _fail("invalid_arguments")
        if refused := self._client(request, form):
            return _fail(refused)
        grant_type = form.get("grant_type", "authorization_code")
        if grant_type == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return _fail("invalid_code")
            if form.get("redirect_uri") != CALLBACK:
                return _fail("bad_redirect_uri")
            return JSONResponse(self._tokens(grant["scopes"], grant["nonce"],
                                             secrets.token_hex(8)))
        if grant_type == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _fail("invalid_refresh_token")
            old.live = False
            return JSONResponse(self._tokens(old.scopes, None, old.grant, id_token=False))
        return _fail("invalid_grant_type")

    def _tokens(self, scopes: list[str], nonce: str | None, grant: str,
                id_token: bool = True) -> dict[str, Any]:
        prefix = "xoxe.xoxp-1-" if self.rotation else "xoxp-1-"
        access = self.issue("access_token", scopes, grant, prefix,
                            time.time() + self.access_ttl if self.rotation else None)
        body: dict[str, Any] = {"ok": True, "access_token": access, "token_type": "Bearer"}
        if self.rotation:
            body["refresh_token"] = self.issue("refresh_token", scopes, grant, "xoxe-1-")
            body["expires_in"] = self.access_ttl
        if id_token:
            now = int(time.time())
            claims = {"iss": "https://slack.com", "aud": self.client_id, "exp": now + 300,
                      "iat": now, "auth_time": now, "at_hash": _at_hash(access), **self.user}
            if nonce:
                claims["nonce"] = nonce
            body["id_token"] = jwt.encode({"alg": "RS256", "kid": _key().kid, "typ": "JWT"},
                                          claims, _key())
        return body

    def _bearer(self, request: Request, form: dict[str, str]) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token if scheme == "Bearer" else form.get("token", "")
        issued = self.tokens.get(token)
        if issued is None or issued.kind != "access_token":
            return None
        return token

    async def _live(self, request: Request) -> tuple[str | None, Response | None]:
        form = await form_of(request)
        token = self._bearer(request, form)
        if token is None:
            return None, _fail("invalid_auth")
        issued = self.tokens[token]
        if not issued.live:
            return None, _fail("token_revoked")
        if issued.expires_at is not None and issued.expires_at < time.time():
            return None, _fail("token_expired")
        return token, None

    async def userinfo(self, request: Request) -> Response:
        token, refused = await self._live(request)
        if refused:
            return refused
        assert token is not None
        user = {k: v for k, v in self.user.items()
                if "email" in self.tokens[token].scopes
                or k not in ("email", "email_verified", "date_email_verified")}
        return JSONResponse({"ok": True, **user})

    async def auth_test(self, request: Request) -> Response:
        token, refused = await self._live(request)
        if refused:
            return refused
        return JSONResponse({"ok": True, "url": "https://kraneflannel.slack.com/",
                             "team": "kraneflannel", "user": "krane", "team_id": TEAM,
                             "user_id": self.user["sub"], "is_enterprise_install": False})

    async def auth_revoke(self, request: Request) -> Response:
        token, refused = await self._live(request)
        if refused:
            return refused
        assert token is not None
        self.kill_grant(token)
        return JSONResponse({"ok": True, "revoked": True})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/openid/connect/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/openid/connect/keys", c("keys", self.keys), methods=["GET"]),
            Route("/api/openid.connect.token", c("token", self.token), methods=["POST"]),
            Route("/api/openid.connect.userInfo", c("userinfo", self.userinfo),
                  methods=["GET", "POST"]),
            Route("/api/auth.test", c("validate", self.auth_test), methods=["GET", "POST"]),
            Route("/api/auth.revoke", c("revoke", self.auth_revoke), methods=["GET", "POST"]),
        ])
        return HostGuard(app, {"slack.com": ["/openid/connect/", "/api/"]})


STRATEGY = "sign-in-with-slack"


def make_fake() -> FakeSlack:
    return FakeSlack()
