"""A fake of LINE Login v2.1 (developers.line.biz/en/reference/line-login):
/oauth2/v2.1/authorize on access.line.me; /oauth2/v2.1/token, /userinfo, /verify (GET: an
access token; POST: an ID token), /revoke and /certs on api.line.me. Web-login ID tokens
are HS256 with the channel secret and carry no email_verified; the channel id and secret
go in the form body; a refresh returns a new refresh token and no ID token; errors are
``{"error", "error_description"}``."""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.providers.base import form_of, unknown
from tests.fakes.providers.keycloak import OIDC_AUTHORIZE, FakeOIDC, oauth_error

API = "https://api.line.me/oauth2/v2.1"


class FakeLine(FakeOIDC):
    strategy = "line"
    hosts = ("access.line.me", "api.line.me")
    issuer = "https://access.line.me"
    endpoints = {"authorize": "https://access.line.me/oauth2/v2.1/authorize",
                 "token": f"{API}/token", "userinfo": f"{API}/userinfo",
                 "jwks": f"{API}/certs", "verify": f"{API}/verify", "revoke": f"{API}/revoke"}
    authorize_params = frozenset(OIDC_AUTHORIZE | {
        "bot_prompt", "initial_amr_display", "switch_amr", "disable_auto_login",
        "disable_ios_auto_login"})
    token_auth = ("client_secret_post",)
    rotates = True
    id_token_on_refresh = False

    def __init__(self) -> None:
        super().__init__()
        self.client_id = str(1_000_000_000 + secrets.randbelow(10**9))
        self.user = {"sub": "U4af4980629d1b2c3d4e5f60718293a4b", "name": "Jane Doe",
                     "picture": "https://profile.line-scdn.net/0h_jane",
                     "email": "jane@example.com"}
        self.id_tokens: dict[str, dict[str, Any]] = {}

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["sub"], "user_id": f"line|{self.user['sub']}",
                "email": "jane@example.com", "email_verified": False, "name": "Jane Doe",
                "picture": self.user["picture"]}

    def sign(self, claims: dict[str, Any]) -> str:
        claims = {**claims, "amr": ["pwd"]}
        claims.pop("azp", None)
        claims.pop("at_hash", None)
        token = jwt.encode({"typ": "JWT", "alg": "HS256"}, claims,
                           OctKey.import_key(self.client_secret.encode()))
        self.id_tokens[token] = claims
        return token

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "invalid authorization code"}

    async def userinfo_or_probe(self, request: Request) -> Response:
        if not self.access_live(self.bearer(request)):
            return JSONResponse({"error": "invalid_token",
                                 "error_description": "The access token expired"}, 401)
        return JSONResponse({k: self.user[k] for k in ("sub", "name", "picture")})

    async def verify(self, request: Request) -> Response:
        if request.method == "GET":
            self.calls["validate"] += 1
            queued = self._failures.get("validate")
            if queued:
                failure = queued.pop(0)
                return JSONResponse(failure.body, failure.status)
            q = dict(request.query_params)
            if unknown(q, {"access_token"}) or not self.access_live(q.get("access_token", "")):
                return oauth_error("invalid_request", "access token expired")
            issued = self.tokens[q["access_token"]]
            assert issued.expires_at is not None
            return JSONResponse({"scope": " ".join(issued.scopes), "client_id": self.client_id,
                                 "expires_in": int(issued.expires_at - time.time())})
        self.calls["verify_id_token"] += 1
        form = await form_of(request)
        if unknown(form, {"id_token", "client_id", "nonce", "user_id"}):
            return oauth_error("invalid_request", "unknown parameter")
        claims = self.id_tokens.get(form.get("id_token", ""))
        if claims is None or form.get("client_id") != self.client_id:
            return oauth_error("invalid_request", "Invalid IdToken.")
        if "nonce" in form and form["nonce"] != claims.get("nonce"):
            return oauth_error("invalid_request", "Invalid IdToken Nonce.")
        return JSONResponse(claims)

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"access_token", "client_id", "client_secret"}) \
                or not form.get("access_token"):
            return oauth_error("invalid_request", "access_token is required")
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return oauth_error("invalid_client", "invalid client", 401)
        if self.live(form["access_token"]):
            self.kill_grant(form["access_token"])
        return Response(status_code=200)

    def handlers(self) -> dict[str, Any]:
        return {**super().handlers(), "verify": (None, self.verify, ["GET", "POST"]),
                "userinfo": ("userinfo", self.userinfo_or_probe, ["GET"])}


STRATEGY = "line"
make_fake = FakeLine
