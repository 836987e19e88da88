"""A fake Keycloak realm (keycloak.org/docs/latest/securing_apps, "OpenID Connect
endpoints"), and the OpenID Connect provider fake its sibling presets (okta, auth0-oidc,
yahoo, linkedin, line) configure: discovery, /authorize, /token, userinfo, JWKS, and where
the provider offers them RFC 7009 revocation and RFC 7662 introspection.

Kept strict: unknown parameters and a client authenticated the wrong way are refused with
``{"error", "error_description"}``; a code is single-use and bound to its redirect_uri and
PKCE challenge; revoking a refresh token ends its grant (Keycloak: its session).
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
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

OIDC_AUTHORIZE = {"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
                  "code_challenge", "code_challenge_method", "prompt", "login_hint",
                  "max_age", "ui_locales", "acr_values"}


@cache
def signing_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


@cache
def ec_signing_key() -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"})
    return ECKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


def at_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class FakeOIDC(FakeProvider):
    """Subclasses set ``issuer`` and ``endpoints`` (name -> absolute URL; names: authorize,
    token, userinfo, jwks, discovery, revoke, introspect)."""

    issuer = ""
    endpoints: dict[str, str] = {}
    authorize_params: frozenset[str] = frozenset(OIDC_AUTHORIZE)
    token_auth: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    offline_scope: str | None = None  # None: a refresh token with every code exchange
    rotates = False
    refresh_allowed = True
    id_alg = "RS256"
    id_token_on_refresh = True

    def __init__(self) -> None:
        super().__init__()
        self.user: dict[str, Any] = {
            "sub": "248289761001", "email": "jane@example.com", "email_verified": True,
            "name": "Jane Doe", "given_name": "Jane", "family_name": "Doe",
            "picture": "https://pics.example.com/jane.png", "preferred_username": "jane"}
        self.userinfo_seen: set[str] = set()
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["sub"],
                "user_id": f"{self.strategy}|{self.user['sub']}", "email": self.user["email"],
                "email_verified": True, "name": "Jane Doe", "given_name": "Jane",
                "family_name": "Doe", "picture": self.user["picture"]}

    def login_extra(self) -> dict[str, str]:
        return {"connection_scope": self.offline_scope} if self.offline_scope else {}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "Code not valid"}

    def discovery(self) -> dict[str, Any]:
        e = self.endpoints
        doc: dict[str, Any] = {
            "issuer": self.issuer, "authorization_endpoint": e["authorize"],
            "token_endpoint": e["token"], "jwks_uri": e["jwks"],
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.id_alg],
            "token_endpoint_auth_methods_supported": list(self.token_auth),
            "code_challenge_methods_supported": ["S256"]}
        for name, key in (("userinfo", "userinfo_endpoint"), ("revoke", "revocation_endpoint"),
                          ("introspect", "introspection_endpoint")):
            if name in e:
                doc[key] = e[name]
        return doc

    # --- endpoints ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        bad = unknown(q, self.authorize_params)
        missing = [k for k in ("client_id", "redirect_uri", "response_type", "scope")
                   if not q.get(k)]
        if bad or missing or q["client_id"] != self.client_id or q["redirect_uri"] != CALLBACK:
            return Response(f"invalid_request {bad} {missing}", 400)
        scopes = q["scope"].split()
        if q["response_type"] != "code" or "openid" not in scopes \
                or q.get("code_challenge_method", "S256") != "S256":
            back = {"error": "invalid_request", "error_description": "bad request",
                    "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"scopes": scopes, "nonce": q.get("nonce"),
                            "challenge": q.get("code_challenge")}
        back = {"code": code, **({"state": q["state"]} if q.get("state") else {})}
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    def client_ok(self, request: Request, form: dict[str, str]) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            if "client_secret_basic" not in self.token_auth or "client_secret" in form:
                return False
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return cid == self.client_id and secret == self.client_secret
        return "client_secret_post" in self.token_auth and \
            form.get("client_id") == self.client_id and \
            form.get("client_secret") == self.client_secret

    def wants_refresh(self, scopes: list[str]) -> bool:
        return self.refresh_allowed and (self.offline_scope is None
                                         or self.offline_scope in scopes)

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        allowed = {"grant_type", "client_id", "client_secret", "code", "redirect_uri",
                   "code_verifier", "refresh_token", "scope"}
        if not form or unknown(form, allowed):
            return oauth_error("invalid_request", f"unknown parameter {unknown(form, allowed)}")
        if not self.client_ok(request, form):
            return oauth_error("invalid_client", "Invalid client credentials", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return oauth_error("invalid_grant", "Code not valid")
            if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
                return oauth_error("invalid_grant", "PKCE verification failed")
            return JSONResponse(self.tokens_body(grant["scopes"], grant["nonce"],
                                                 self.wants_refresh(grant["scopes"])))
        if grant_type == "refresh_token":
            issued = self.tokens.get(form.get("refresh_token", ""))
            if issued is None or not issued.live or issued.kind != "refresh_token":
                return oauth_error("invalid_grant", "Token is not active")
            if self.rotates:
                issued.live = False
            return JSONResponse(self.tokens_body(issued.scopes, None, self.rotates,
                                                 grant=issued.grant))
        return oauth_error("unsupported_grant_type", "Unsupported grant_type")

    def id_token_claims(self, access: str, nonce: str | None) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "azp": self.client_id,
                  "sub": self.user["sub"], "iat": now, "exp": now + 300,
                  "at_hash": at_hash(access), **{k: v for k, v in self.user.items()
                                                 if k != "sub"}}
        if nonce:
            claims["nonce"] = nonce
        return claims

    def tokens_body(self, scopes: list[str], nonce: str | None, refresh: bool,
                    grant: str | None = None) -> dict[str, Any]:
        grant = grant or secrets.token_hex(8)
        access = self.issue("access_token", scopes, grant, "at.", time.time() + self.access_ttl)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                "expires_in": self.access_ttl, "scope": " ".join(scopes)}
        if refresh:
            body["refresh_token"] = self.issue("refresh_token", scopes, grant, "rt.")
        if "openid" in scopes and (nonce is not None or self.id_token_on_refresh):
            body["id_token"] = self.sign(self.id_token_claims(access, nonce))
        return body

    def sign(self, claims: dict[str, Any]) -> str:
        key: Any = ec_signing_key() if self.id_alg == "ES256" else signing_key()
        return jwt.encode({"alg": self.id_alg, "kid": key.kid, "typ": "JWT"}, claims, key)

    def access_live(self, token: str) -> bool:
        issued = self.tokens.get(token)
        return bool(issued and issued.live and issued.kind == "access_token"
                    and (issued.expires_at is None or issued.expires_at > time.time()))

    def bearer(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else ""

    async def userinfo(self, request: Request) -> Response:
        if not self.access_live(self.bearer(request)):
            return JSONResponse({"error": "invalid_token",
                                 "error_description": "Token verification failed"}, 401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return JSONResponse(self.user)

    async def userinfo_or_probe(self, request: Request) -> Response:
        """Without introspection a token is validated by presenting it to userinfo: a token's
        first userinfo call is the login's, any later one the broker's validation probe."""
        token = self.bearer(request)
        name = "userinfo"
        if "introspect" not in self.endpoints and token in self.userinfo_seen:
            name = "validate"
        self.userinfo_seen.add(token)
        return await self.counted(name, self.userinfo)(request)

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if not form.get("token") or unknown(form, {"token", "token_type_hint", "client_id",
                                                   "client_secret"}):
            return oauth_error("invalid_request", "Token not provided")
        if not self.client_ok(request, form):
            return oauth_error("invalid_client", "Invalid client credentials", 401)
        if self.live(form["token"]):
            self.kill_grant(form["token"])
        return Response(status_code=200)  # RFC 7009 §2.2: also for an unknown token

    async def introspect(self, request: Request) -> Response:
        form = await form_of(request)
        if not form.get("token") or unknown(form, {"token", "token_type_hint", "client_id",
                                                   "client_secret"}):
            return oauth_error("invalid_request", "Token not provided")
        if not self.client_ok(request, form):
            return oauth_error("invalid_client", "Invalid client credentials", 401)
        token = form["token"]
        if not (self.access_live(token) or (self.live(token)
                                            and self.tokens[token].kind == "refresh_token")):
            return JSONResponse({"active": False})
        issued = self.tokens[token]
        body: dict[str, Any] = {"active": True, "scope": " ".join(issued.scopes),
                                "client_id": self.client_id, "sub": self.user["sub"],
                                "token_type": "Bearer", "iss": self.issuer}
        if issued.expires_at:
            body["exp"] = int(issued.expires_at)
        return JSONResponse(body)

    async def jwks(self, request: Request) -> Response:
        key: Any = ec_signing_key() if self.id_alg == "ES256" else signing_key()
        return JSONResponse({"keys": [key.as_dict(private=False)]})

    async def well_known(self, request: Request) -> Response:
        return JSONResponse(self.discovery())

    def handlers(self) -> dict[str, Any]:
        return {"authorize": ("authorize", self.authorize, ["GET"]),
                "token": ("token", self.token, ["POST"]),
                "userinfo": (None, self.userinfo_or_probe, ["GET", "POST"]),
                "jwks": ("certs", self.jwks, ["GET"]),
                "discovery": ("discovery", self.well_known, ["GET"]),
                "revoke": ("revoke", self.revoke, ["POST"]),
                "introspect": ("validate", self.introspect, ["POST"])}

    def _build(self) -> ASGIApp:
        from urllib.parse import urlsplit

        routes, paths = [], {}
        handlers = self.handlers()
        for name, url in self.endpoints.items():
            counter, handler, methods = handlers[name]
            parts = urlsplit(url)
            endpoint = self.counted(counter, handler) if counter else handler
            routes.append(Route(parts.path, endpoint, methods=methods))
            paths.setdefault(parts.hostname or "", []).append(parts.path)
        return HostGuard(Starlette(routes=routes), paths)


class FakeKeycloak(FakeOIDC):
    strategy = "keycloak"
    hosts = ("sso.example.com",)
    base = "https://sso.example.com"
    realm = "acme"
    issuer = f"{base}/realms/{realm}"
    _oidc = f"{issuer}/protocol/openid-connect"
    endpoints = {"discovery": f"{issuer}/.well-known/openid-configuration",
                 "authorize": f"{_oidc}/auth", "token": f"{_oidc}/token",
                 "userinfo": f"{_oidc}/userinfo", "jwks": f"{_oidc}/certs",
                 "revoke": f"{_oidc}/revoke", "introspect": f"{_oidc}/token/introspect"}
    rotates = True

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "idbroker"
        self.user["sub"] = "f1b3c4d2-9a7e-4c1b-8d2f-0a1b2c3d4e5f"

    def connection_options(self) -> dict[str, Any]:
        return {**super().connection_options(), "base_url": self.base, "realm": self.realm}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "Code not valid"}


STRATEGY = "keycloak"
make_fake = FakeKeycloak
