"""A fake of Google's OAuth 2.0 / OpenID Connect endpoints, as documented for web server apps
(developers.google.com/identity/protocols/oauth2/web-server, /openid-connect): the consent
page at accounts.google.com, /token, /revoke and /tokeninfo at oauth2.googleapis.com, userinfo
at openidconnect.googleapis.com, the JWKS at www.googleapis.com.

Google's rules kept here: a refresh token only with ``access_type=offline``, and on a later
login only with ``prompt=consent``; ``email``/``profile`` granted scopes come back as
``https://www.googleapis.com/auth/userinfo.*`` URLs; a refresh never rotates the refresh
token; revoking either token of a grant ends the grant; tokeninfo's ``exp``/``expires_in``
are strings; errors are ``{"error", "error_description"}``.
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

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

ISSUER = "https://accounts.google.com"
AUTHORIZE_PARAMS = {"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
                    "access_type", "prompt", "include_granted_scopes", "login_hint", "hd",
                    "code_challenge", "code_challenge_method", "enable_granular_consent"}
SCOPE_URLS = {"email": "https://www.googleapis.com/auth/userinfo.email",
              "profile": "https://www.googleapis.com/auth/userinfo.profile"}


@cache
def _key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakeGoogle(FakeProvider):
    strategy = "google-oauth2"
    hosts = ("accounts.google.com", "oauth2.googleapis.com", "openidconnect.googleapis.com",
             "www.googleapis.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = f"{secrets.randbelow(10**12)}-fake.apps.googleusercontent.com"
        self.user = {"sub": "109876543210987654321", "email": "jane@corp.example.com",
                     "email_verified": True, "name": "Jane Doe", "given_name": "Jane",
                     "family_name": "Doe", "picture": "https://lh3.googleusercontent.com/a/jane",
                     "locale": "en", "hd": "corp.example.com"}
        self.consented: set[str] = set()  # users who already granted offline access
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["sub"],
                "user_id": f"google-oauth2|{self.user['sub']}", "email": self.user["email"],
                "email_verified": True, "name": "Jane Doe", "given_name": "Jane",
                "family_name": "Doe", "picture": self.user["picture"]}

    def login_extra(self) -> dict[str, str]:
        return {"access_type": "offline"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "Bad Request"}

    # --- endpoints ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = {k: v for k, v in request.query_params.items()}
        self.last_authorize = q
        bad = unknown(q, AUTHORIZE_PARAMS)
        missing = [k for k in ("client_id", "redirect_uri", "response_type", "scope")
                   if not q.get(k)]
        prompts = set(q.get("prompt", "").split())
        if bad or missing or q["response_type"] != "code" or q["client_id"] != self.client_id \
                or q["redirect_uri"] != CALLBACK \
                or q.get("access_type", "online") not in ("online", "offline") \
                or not prompts <= {"none", "consent", "select_account"} \
                or q.get("code_challenge_method", "S256") != "S256":
            # Google shows "Error 400: invalid_request" and does not redirect.
            return Response(f"Error 400: invalid_request {bad} {missing}", 400)
        offline = q.get("access_type") == "offline"
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "scopes": q["scope"].split(), "nonce": q.get("nonce"),
            "challenge": q.get("code_challenge"),
            "refresh": offline and ("consent" in prompts or self.user["sub"] not in self.consented),
        }
        if offline:
            self.consented.add(self.user["sub"])
        back = {"code": code, "scope": q["scope"], "authuser": "0", "prompt": "consent"}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return cid == self.client_id and secret == self.client_secret
        return form.get("client_id") == self.client_id and \
            form.get("client_secret") == self.client_secret

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        grant_type = form.get("grant_type")
        allowed = {"grant_type", "client_id", "client_secret", "code", "redirect_uri",
                   "code_verifier", "refresh_token"}
        if unknown(form, allowed):
            return _error("invalid_request", f"Invalid parameter {unknown(form, allowed)}")
        if not self._client_ok(request, form):
            return _error("invalid_client", "Unauthorized", 401)
        if grant_type == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return _error("invalid_grant", "Bad Request")
            if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
                return _error("invalid_grant", "Invalid code verifier.")
            return JSONResponse(self._tokens(grant["scopes"], grant["nonce"], grant["refresh"]))
        if grant_type == "refresh_token":
            issued = self.tokens.get(form.get("refresh_token", ""))
            if issued is None or not issued.live or issued.kind != "refresh_token":
                return _error("invalid_grant", "Token has been expired or revoked.")
            return JSONResponse(self._tokens(issued.scopes, None, False, grant=issued.grant))
        return _error("unsupported_grant_type", "Invalid grant_type: " + str(grant_type))

    def _tokens(self, scopes: list[str], nonce: str | None, refresh: bool,
                grant: str | None = None) -> dict[str, Any]:
        grant = grant or secrets.token_hex(8)
        access = self.issue("access_token", scopes, grant, "ya29.", time.time() + self.access_ttl)
        body: dict[str, Any] = {
            "access_token": access, "expires_in": self.access_ttl, "token_type": "Bearer",
            "scope": " ".join(SCOPE_URLS.get(s, s) for s in scopes)}
        if refresh:
            body["refresh_token"] = self.issue("refresh_token", scopes, grant, "1//")
        if "openid" in scopes:
            now = int(time.time())
            claims = {"iss": ISSUER, "azp": self.client_id, "aud": self.client_id,
                      "sub": self.user["sub"], "iat": now, "exp": now + 3600,
                      "at_hash": _at_hash(access), "hd": self.user["hd"],
                      "email": self.user["email"], "email_verified": True,
                      **{k: self.user[k] for k in ("name", "given_name", "family_name",
                                                   "picture", "locale")}}
            if nonce:
                claims["nonce"] = nonce
            body["id_token"] = jwt.encode({"alg": "RS256", "kid": _key().kid, "typ": "JWT"},
                                          claims, _key())
        return body

    def _access(self, token: str) -> bool:
        issued = self.tokens.get(token)
        return bool(issued and issued.live and issued.kind == "access_token"
                    and (issued.expires_at is None or issued.expires_at > time.time()))

    async def userinfo(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self._access(auth[7:]):
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "Invalid Credentials"}, 401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return JSONResponse(self.user)

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        token = form.get("token") or request.query_params.get("token", "")
        if unknown(form, {"token"}):
            return _error("invalid_request", "Bad Request")
        issued = self.tokens.get(token)
        if issued is None or not issued.live:
            return _error("invalid_token", "Token expired or revoked")
        self.kill_grant(token)
        return JSONResponse({})

    async def tokeninfo(self, request: Request) -> Response:
        params = await form_of(request) if request.method == "POST" else \
            dict(request.query_params)
        if unknown(params, {"access_token", "id_token"}):
            return _error("invalid_request", "Bad Request")
        token = params.get("access_token", "")
        if not self._access(token):
            return _error("invalid_token", "Invalid Value")
        issued = self.tokens[token]
        assert issued.expires_at is not None
        return JSONResponse({
            "azp": self.client_id, "aud": self.client_id, "sub": self.user["sub"],
            "scope": " ".join(SCOPE_URLS.get(s, s) for s in issued.scopes),
            "exp": str(int(issued.expires_at)),
            "expires_in": str(int(issued.expires_at - time.time())),
            "email": self.user["email"], "email_verified": "true", "access_type": "offline"})

    async def certs(self, request: Request) -> Response:
        return JSONResponse({"keys": [_key().as_dict(private=False)]})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/o/oauth2/v2/auth", c("authorize", self.authorize), methods=["GET"]),
            Route("/token", c("token", self.token), methods=["POST"]),
            Route("/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/tokeninfo", c("validate", self.tokeninfo), methods=["GET", "POST"]),
            Route("/v1/userinfo", c("userinfo", self.userinfo), methods=["GET", "POST"]),
            Route("/oauth2/v3/certs", c("certs", self.certs), methods=["GET"]),
        ])
        return HostGuard(app, {
            "accounts.google.com": ["/o/oauth2/v2/auth"],
            "oauth2.googleapis.com": ["/token", "/revoke", "/tokeninfo"],
            "openidconnect.googleapis.com": ["/v1/userinfo"],
            "www.googleapis.com": ["/oauth2/v3/certs"],
        })


def _at_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


STRATEGY = "google-oauth2"
make_fake = FakeGoogle
