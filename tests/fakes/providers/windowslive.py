"""A fake of the Microsoft identity platform v2.0 as documented for the authorization code
flow (learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow, "ID token claims
reference", "Refresh tokens", Microsoft Graph "Get user" and "/oidc/userinfo"), shared by the
``windowslive`` (tenant ``consumers``) and ``waad`` fakes.

Microsoft's rules kept here: endpoints under ``login.microsoftonline.com/{tenant}/``; a
refresh token only when ``offline_access`` is among the scopes; every refresh answers a new
refresh token (rotation; the old one keeps working until it expires); errors are
``{"error", "error_description": "AADSTSnnnn: …", "error_codes", "timestamp", "trace_id",
"correlation_id", "error_uri"}``; a reused code is ``invalid_grant`` (AADSTS54005); the ID
token's ``iss`` is ``https://login.microsoftonline.com/{tid}/v2.0``; Graph answers
``{"error": {"code", "message", "innerError"}}``, 401 for a bad token and 403 without
``User.Read``. There is no revocation endpoint.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
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

CONSUMERS_TID = "9188040d-6c67-4c5b-b112-36a304b66dad"
AUTHORIZE_PARAMS = {"client_id", "response_type", "redirect_uri", "scope", "response_mode",
                    "state", "nonce", "prompt", "login_hint", "domain_hint", "code_challenge",
                    "code_challenge_method"}
TOKEN_PARAMS = {"client_id", "scope", "code", "redirect_uri", "grant_type", "code_verifier",
                "client_secret", "refresh_token"}


@cache
def _key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


def aad_error(error: str, code: int, text: str, status: int = 400) -> JSONResponse:
    trace = str(uuid.uuid4())
    return JSONResponse({
        "error": error, "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}",
        "error_codes": [code], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": trace, "correlation_id": str(uuid.uuid4()),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}"}, status)


def graph_error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "innerError": {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())}}}, status)


class FakeMicrosoft(FakeProvider):
    strategy = "windowslive"
    hosts = ("login.microsoftonline.com", "graph.microsoft.com")
    tenant = "consumers"  # the path segment the app is registered for

    def __init__(self) -> None:
        super().__init__()
        self.client_id = str(uuid.uuid4())
        self.tid = CONSUMERS_TID
        self.user: dict[str, Any] = {
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "oid": "00000000-0000-0000-66f3-3332eca7ea81", "name": "Jane Doe",
            "given_name": "Jane", "family_name": "Doe", "email": "jane@outlook.com",
            "preferred_username": "jane@outlook.com"}
        self.optional_claims: dict[str, Any] = {}  # e.g. xms_edov, when the app asks for it
        self.forged_iss: str | None = None  # an ID token whose iss names another tenant
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["sub"],
                "user_id": f"{self.strategy}|{self.user['sub']}", "email": self.user["email"],
                "email_verified": False, "name": "Jane Doe", "given_name": "Jane",
                "family_name": "Doe"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant",
                     "error_description": "AADSTS70000: The provided value for the 'code' "
                                          "parameter is not valid.", "error_codes": [70000]}

    # --- login.microsoftonline.com ----------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if request.path_params["tenant"] != self.tenant or unknown(q, AUTHORIZE_PARAMS) \
                or q.get("client_id") != self.client_id or q.get("redirect_uri") != CALLBACK \
                or q.get("response_type") != "code" or not q.get("scope") \
                or q.get("prompt", "login") not in ("login", "none", "consent", "select_account") \
                or q.get("code_challenge_method", "S256") != "S256":
            # Microsoft shows its own error page for a bad client or redirect URI.
            return Response("AADSTS900144: invalid request", 400)
        code = "0.AX" + secrets.token_urlsafe(40)
        self.codes[code] = {"scopes": q["scope"].split(), "nonce": q.get("nonce"),
                            "challenge": q.get("code_challenge")}
        back = {"code": code, "session_state": str(uuid.uuid4())}
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
        if request.path_params["tenant"] != self.tenant:
            return aad_error("invalid_request", 90002, "Tenant not found.")
        if unknown(form, TOKEN_PARAMS):
            return aad_error("invalid_request", 900144, f"Unknown {unknown(form, TOKEN_PARAMS)}")
        if not self._client_ok(request, form):
            return aad_error("invalid_client", 7000215, "Invalid client secret provided.", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return aad_error("invalid_grant", 54005, "OAuth2 Authorization code was "
                                 "already redeemed, please retry with a new valid code.")
            if form.get("redirect_uri") != CALLBACK:
                return aad_error("invalid_grant", 50148, "The redirect_uri does not match.")
            if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
                return aad_error("invalid_grant", 501481, "The Code_Verifier does not match "
                                 "the code_challenge supplied in the authorization request.")
            return JSONResponse(self._tokens(grant["scopes"], grant["nonce"],
                                             secrets.token_hex(8)))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return aad_error("invalid_grant", 700082, "The refresh token has expired or "
                                 "been revoked.")
            return JSONResponse(self._tokens(old.scopes, None, old.grant))
        return aad_error("unsupported_grant_type", 70003, "The app requested an unsupported "
                         "grant type.")

    def _tokens(self, scopes: list[str], nonce: str | None, grant: str) -> dict[str, Any]:
        access = self.issue("access_token", scopes, grant, "EwB",
                            time.time() + self.access_ttl)
        body: dict[str, Any] = {
            "token_type": "Bearer", "expires_in": self.access_ttl,
            "ext_expires_in": self.access_ttl, "access_token": access,
            "scope": " ".join(s for s in scopes if s not in ("offline_access",))}
        if "offline_access" in scopes:
            body["refresh_token"] = self.issue("refresh_token", scopes, grant, "M.C5")
        if "openid" in scopes:
            now = int(time.time())
            claims: dict[str, Any] = {
                "ver": "2.0", "iss": self.forged_iss or f"https://login.microsoftonline.com/"
                                                        f"{self.tid}/v2.0",
                "sub": self.user["sub"], "aud": self.client_id, "exp": now + 3600, "iat": now,
                "nbf": now, "tid": self.tid, "oid": self.user["oid"],
                "aio": secrets.token_urlsafe(12), **self.optional_claims}
            if "profile" in scopes:
                claims.update(name=self.user["name"],
                              preferred_username=self.user["preferred_username"])
            if "email" in scopes:
                claims["email"] = self.user["email"]
            if nonce:
                claims["nonce"] = nonce
            body["id_token"] = jwt.encode({"alg": "RS256", "kid": _key().kid, "typ": "JWT"},
                                          claims, _key())
        return body

    async def keys(self, request: Request) -> Response:
        return JSONResponse({"keys": [{**_key().as_dict(private=False),
                                       "issuer": f"https://login.microsoftonline.com/"
                                                 "{tenantid}/v2.0"}]})

    # --- graph.microsoft.com ----------------------------------------------------------------

    def _bearer(self, request: Request) -> Any:
        auth = request.headers.get("authorization", "")
        issued = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if issued is None or not issued.live or issued.kind != "access_token" or \
                (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return issued

    async def userinfo(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return graph_error("InvalidAuthenticationToken", "Access token is empty.", 401)
        return JSONResponse({k: self.user[k] for k in ("sub", "name", "given_name",
                                                        "family_name", "email")}
                            | {"picture": "https://graph.microsoft.com/v1.0/me/photo/$value"})

    async def me(self, request: Request) -> Response:
        issued = self._bearer(request)
        if issued is None:
            return graph_error("InvalidAuthenticationToken",
                               "Lifetime validation failed, the token is expired.", 401)
        if "User.Read" not in issued.scopes:
            return graph_error("Authorization_RequestDenied",
                               "Insufficient privileges to complete the operation.", 403)
        return JSONResponse({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": self.user["oid"], "displayName": self.user["name"],
            "givenName": self.user["given_name"], "surname": self.user["family_name"],
            "userPrincipalName": self.user["preferred_username"], "mail": self.user["email"]})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/{tenant}/oauth2/v2.0/authorize", c("authorize", self.authorize),
                  methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", c("token", self.token), methods=["POST"]),
            Route("/{tenant}/discovery/v2.0/keys", c("certs", self.keys), methods=["GET"]),
            Route("/oidc/userinfo", c("userinfo", self.userinfo), methods=["GET", "POST"]),
            Route("/v1.0/me", c("validate", self.me), methods=["GET"]),
        ])
        return HostGuard(app, {"login.microsoftonline.com": ["/"],
                               "graph.microsoft.com": ["/oidc/userinfo", "/v1.0/me"]})


STRATEGY = "windowslive"
make_fake = FakeMicrosoft
