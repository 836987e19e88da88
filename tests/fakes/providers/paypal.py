"""A fake of Log in with PayPal as documented (developer.paypal.com "Log in with PayPal",
"Authentication" / ``/v1/oauth2/token``, Identity API v1 ``userinfo``), live or sandbox.

PayPal's rules kept here: consent at ``www.paypal.com/signin/authorize``; the token endpoint
at ``api-m.paypal.com/v1/oauth2/token`` wants HTTP Basic client credentials and a form body;
it answers ``expires_in`` as a string, a refresh token with the code grant, and no new one on
refresh; errors are ``{"error", "error_description"}`` (400 ``invalid_grant``, 401
``invalid_client``); userinfo needs ``schema=openid`` (``/v1/identity/oauth2/userinfo``:
``schema=paypalv1.1``) and answers 401 ``invalid_token`` for a bad token; the userinfo
``user_id`` is an identity URL.
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

AUTHORIZE_PARAMS = {"client_id", "response_type", "scope", "redirect_uri", "state", "nonce",
                    "flowEntry", "fullPage", "locale.x"}
SCOPES = {"openid", "profile", "email", "address",
          "https://uri.paypal.com/services/paypalattributes"}
USER_ID = "mWq6_1sU85v5EG9yHdPxJRrhGHrnMJ-1PQKtX6pcsmA"


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakePayPal(FakeProvider):
    strategy = "paypal"

    def __init__(self, sandbox: bool = False) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.web = "www.sandbox.paypal.com" if sandbox else "www.paypal.com"
        self.api = "api-m.sandbox.paypal.com" if sandbox else "api-m.paypal.com"
        self.hosts = (self.web, self.api)
        self.client_id = "A" + secrets.token_urlsafe(60)
        self.access_ttl = 28800
        self.user: dict[str, Any] = {
            "user_id": f"https://www.paypal.com/webapps/auth/identity/user/{USER_ID}",
            "sub": f"https://www.paypal.com/webapps/auth/identity/user/{USER_ID}",
            "name": "Jane Doe", "given_name": "Jane", "family_name": "Doe",
            "email": "jane@example.com", "email_verified": True, "verified_account": "true",
            "payer_id": "WDJJHEBZ4X2LY"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def connection_options(self) -> dict[str, Any]:
        return {**super().connection_options(), **({"sandbox": True} if self.sandbox else {})}

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": USER_ID, "user_id": f"paypal|{USER_ID}",
                "email": "jane@example.com", "email_verified": True, "name": "Jane Doe",
                "given_name": "Jane", "family_name": "Doe", "nickname": "jane"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "Invalid authorization code"}

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK or q.get("response_type") != "code":
            return Response("Sorry, we can't connect you to this site.", 400)
        scopes = q.get("scope", "").split()
        if "openid" not in scopes:
            back = {"error": "invalid_scope", "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        code = "C21" + secrets.token_urlsafe(40)
        self.codes[code] = {"scopes": [s for s in scopes if s in SCOPES]}
        back = {"code": code, "scope": " ".join(self.codes[code]["scopes"])}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"grant_type", "code", "redirect_uri", "refresh_token"}):
            return _error("invalid_request", "Unsupported parameter")
        auth = request.headers.get("authorization", "")
        cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":") \
            if auth.startswith("Basic ") else ("", "", "")
        if cid != self.client_id or secret != self.client_secret:
            return _error("invalid_client", "Client Authentication failed", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return _error("invalid_grant", "Invalid authorization code")
            return JSONResponse(self._tokens(grant["scopes"], secrets.token_hex(8), True))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "Invalid refresh token")
            return JSONResponse(self._tokens(old.scopes, old.grant, False))
        return _error("unsupported_grant_type", "Grant type is not supported")

    def _tokens(self, scopes: list[str], grant: str, refresh: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token_type": "Bearer", "expires_in": str(self.access_ttl),
            "access_token": self.issue("access_token", scopes, grant, "A21AA",
                                       time.time() + self.access_ttl),
            "scope": " ".join(scopes), "nonce": f"{time.strftime('%Y-%m-%dT%H:%M:%SZ')}"
                                                f"{secrets.token_hex(8)}"}
        if refresh:
            body["refresh_token"] = self.issue("refresh_token", scopes, grant, "R23A")
        return body

    async def userinfo(self, request: Request) -> Response:
        return await self._userinfo(request, "openid")

    async def userinfo_v11(self, request: Request) -> Response:
        return await self._userinfo(request, "paypalv1.1")

    async def _userinfo(self, request: Request, schema: str) -> Response:
        if dict(request.query_params) != {"schema": schema}:
            return JSONResponse({"name": "INVALID_REQUEST", "message": "Request is not well-"
                                 "formed, syntactically incorrect, or violates schema.",
                                 "debug_id": secrets.token_hex(6)}, 400)
        auth = request.headers.get("authorization", "")
        issued = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if issued is None or not issued.live or issued.kind != "access_token" or \
                (issued.expires_at is not None and issued.expires_at < time.time()):
            return _error("invalid_token", "The token passed in was not found in the system",
                          401)
        if schema == "paypalv1.1":
            return JSONResponse({"user_id": self.user["user_id"], "name": self.user["name"],
                                 "payer_id": self.user["payer_id"],
                                 "verified_account": self.user["verified_account"],
                                 "emails": [{"value": self.user["email"], "primary": True,
                                             "confirmed": True}]})
        body = {k: self.user[k] for k in ("user_id", "sub")}
        if "profile" in issued.scopes:
            body.update({k: self.user[k] for k in ("name", "given_name", "family_name")})
        if "email" in issued.scopes:
            body.update(email=self.user["email"], email_verified=self.user["email_verified"])
        return JSONResponse(body)

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/signin/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/v1/oauth2/token", c("token", self.token), methods=["POST"]),
            Route("/v1/identity/openidconnect/userinfo", c("userinfo", self.userinfo),
                  methods=["GET"]),
            Route("/v1/identity/oauth2/userinfo", c("validate", self.userinfo_v11),
                  methods=["GET"]),
        ])
        return HostGuard(app, {self.web: ["/signin/authorize"],
                               self.api: ["/v1/oauth2/token",
                                          "/v1/identity/openidconnect/userinfo",
                                          "/v1/identity/oauth2/userinfo"]})


STRATEGY = "paypal"
make_fake = FakePayPal
