"""A fake of Salesforce's OAuth 2.0 / OpenID Connect endpoints as documented
(help.salesforce.com "OAuth 2.0 Web Server Flow for Web App Integration", "Revoke OAuth
Tokens", "OAuth 2.0 Token Introspection Flow", "OpenID Connect Token Endpoint"), on one login
base URL: production ``login.salesforce.com``, sandbox ``test.salesforce.com`` or a My Domain.

Salesforce's rules kept here: a refresh token only with the ``refresh_token`` or
``offline_access`` scope; the token response carries ``id``, ``instance_url``,
``signature`` and ``issued_at`` (milliseconds, a string) but no ``expires_in``; a refresh
answers no new refresh token; token errors are 400 ``{"error", "error_description"}``
(``invalid_grant`` "authentication failure" / "expired access/refresh token",
``invalid_client_id``, ``invalid_client``); the ID token's ``sub`` is the identity URL
``{base}/id/{orgId}/{userId}``; revoke takes only ``token`` and answers 400
``unsupported_token_type`` for a token it does not know; revoking a refresh token ends its
access tokens; introspection wants the client credentials and answers RFC 7662.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                    "prompt", "display", "immediate", "login_hint", "code_challenge",
                    "code_challenge_method"}
TOKEN_PARAMS = {"grant_type", "code", "client_id", "client_secret", "redirect_uri",
                "code_verifier", "refresh_token", "format"}
ORG, USER = "00D5e000000AbCdEAF", "0055e000003XyZwAAC"


@cache
def _key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": "244"})


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakeSalesforce(FakeProvider):
    strategy = "salesforce"
    reports_expiry = False  # no expires_in: the conformance suite ages the token itself

    def __init__(self, base: str = "https://login.salesforce.com") -> None:
        super().__init__()
        self.base = base
        self.hosts = (urlsplit(base).hostname or "",)
        self.client_id = "3MVG9" + secrets.token_urlsafe(40)
        self.user = {"sub": f"{base}/id/{ORG}/{USER}", "user_id": USER,
                     "organization_id": ORG, "preferred_username": "jane@acme.example",
                     "nickname": "jane", "name": "Jane Doe", "given_name": "Jane",
                     "family_name": "Doe", "email": "jane@acme.example", "email_verified": True,
                     "picture": f"{base}/profilephoto/005/F", "zoneinfo": "Europe/Lisbon",
                     "locale": "en_US", "user_type": "STANDARD", "active": True}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": f"{ORG}|{USER}",
                "user_id": f"salesforce|{ORG}|{USER}", "email": self.user["email"],
                "email_verified": True, "name": "Jane Doe", "given_name": "Jane",
                "family_name": "Doe", "nickname": "jane", "picture": self.user["picture"]}

    def connection_options(self) -> dict[str, Any]:
        options = super().connection_options()
        if self.base != "https://login.salesforce.com":
            options["base_url"] = self.base
        return options

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "authentication failure"}

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id:
            return Response("error=invalid_client_id&error_description=client identifier "
                            "invalid", 400)
        if q.get("redirect_uri") != CALLBACK:
            return Response("error=redirect_uri_mismatch", 400)
        if q.get("response_type") != "code" or \
                q.get("code_challenge_method", "S256") != "S256":
            back = {"error": "unsupported_response_type", "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        code = "aPrx" + secrets.token_urlsafe(30)
        self.codes[code] = {"scopes": q.get("scope", "").split(), "nonce": q.get("nonce"),
                            "challenge": q.get("code_challenge")}
        back = {"code": code}
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
        if unknown(form, TOKEN_PARAMS):
            return _error("invalid_request", "invalid parameter")
        if form.get("client_id") not in (None, self.client_id) and \
                not request.headers.get("authorization"):
            return _error("invalid_client_id", "client identifier invalid")
        if not self._client_ok(request, form):
            return _error("invalid_client", "invalid client credentials")
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return _error("invalid_grant", "authentication failure")
            if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
                return _error("invalid_grant", "invalid code verifier")
            return JSONResponse(self._tokens(grant["scopes"], grant["nonce"],
                                             secrets.token_hex(8), refresh=True))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "expired access/refresh token")
            return JSONResponse(self._tokens(old.scopes, None, old.grant, refresh=False))
        return _error("unsupported_grant_type", "grant type not supported")

    def _tokens(self, scopes: list[str], nonce: str | None, grant: str,
                refresh: bool) -> dict[str, Any]:
        now = time.time()
        access = self.issue("access_token", scopes, grant, f"{ORG}!AR",
                            now + self.access_ttl)
        body: dict[str, Any] = {
            "access_token": access, "signature": base64.b64encode(secrets.token_bytes(32))
            .decode(), "scope": " ".join(scopes), "instance_url": "https://acme.my.salesforce.com",
            "id": f"{self.base}/id/{ORG}/{USER}", "token_type": "Bearer",
            "issued_at": str(int(now * 1000))}
        if refresh and {"refresh_token", "offline_access"} & set(scopes):
            body["refresh_token"] = self.issue("refresh_token", scopes, grant, "5Aep")
        if "openid" in scopes:
            claims: dict[str, Any] = {
                "iss": self.base, "sub": self.user["sub"], "aud": self.client_id,
                "exp": int(now) + 300, "iat": int(now), "at_hash": _at_hash(access)}
            if "profile" in scopes:
                claims.update({k: self.user[k] for k in ("name", "given_name", "family_name",
                                                         "preferred_username", "nickname",
                                                         "picture", "zoneinfo", "locale")})
            if "email" in scopes:
                claims.update(email=self.user["email"], email_verified=True)
            if nonce:
                claims["nonce"] = nonce
            body["id_token"] = jwt.encode({"alg": "RS256", "kid": _key().kid}, claims, _key())
        return body

    def _access(self, token: str) -> Any:
        issued = self.tokens.get(token)
        if issued is None or not issued.live or issued.kind != "access_token" or \
                (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return issued

    async def userinfo(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or self._access(auth[7:]) is None:
            return PlainTextResponse("Bad_OAuth_Token", 403)
        return JSONResponse({**self.user, "photos": {"picture": self.user["picture"]},
                             "updated_at": "2024-05-01T10:00:00Z"})

    async def keys(self, request: Request) -> Response:
        return JSONResponse({"keys": [{**_key().as_dict(private=False), "alg": "RS256"}]})

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"token"}):
            return _error("invalid_request", "invalid parameter")
        issued = self.tokens.get(form.get("token", ""))
        if issued is None or not issued.live:
            return _error("unsupported_token_type", "this token type is not supported")
        if issued.kind == "refresh_token":
            self.kill_grant(issued.value)
        else:
            issued.live = False
        return Response(status_code=200)

    async def introspect(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"token", "token_type_hint", "client_id", "client_secret"}):
            return _error("invalid_request", "invalid parameter")
        if not self._client_ok(request, form):
            return _error("invalid_client", "invalid client credentials", 401)
        issued = self._access(form.get("token", ""))
        if issued is None:
            return JSONResponse({"active": False})
        assert issued.expires_at is not None
        return JSONResponse({
            "active": True, "scope": " ".join(issued.scopes), "client_id": self.client_id,
            "username": self.user["preferred_username"], "sub": self.user["sub"],
            "token_type": "access_token", "exp": int(issued.expires_at),
            "iat": int(issued.expires_at - self.access_ttl), "nbf": int(time.time())})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/services/oauth2/authorize", c("authorize", self.authorize),
                  methods=["GET"]),
            Route("/services/oauth2/token", c("token", self.token), methods=["POST"]),
            Route("/services/oauth2/userinfo", c("userinfo", self.userinfo),
                  methods=["GET", "POST"]),
            Route("/services/oauth2/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/services/oauth2/introspect", c("validate", self.introspect),
                  methods=["POST"]),
            Route("/id/keys", c("certs", self.keys), methods=["GET"]),
        ])
        return HostGuard(app, {self.hosts[0]: ["/services/oauth2/", "/id/keys"]})


def _at_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


STRATEGY = "salesforce"
make_fake = FakeSalesforce
