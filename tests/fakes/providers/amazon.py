"""A fake of Login with Amazon, as documented (developer.amazon.com/docs/login-with-amazon:
"Authorization Code Grant", "Access Tokens", "Obtain Customer Profile Information"): the
consent page ``www.amazon.com/ap/oa``, ``/auth/o2/token`` and ``/auth/o2/tokeninfo`` and
``/user/profile`` at ``api.amazon.com``.

Amazon's rules kept here: client credentials in the form body; the code grant always answers
a refresh token; a refresh answers a new refresh token; ``token_type`` is lower-case
``bearer``; errors are ``{"error", "error_description"}`` (400 ``invalid_grant`` for a bad
code or refresh token, 401 ``invalid_client``); the profile answers only the fields of the
granted scopes and 401 ``invalid_token`` for a bad token; tokeninfo takes ``access_token`` as
a query parameter and answers ``aud`` and the seconds left as ``exp``.
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

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "scope", "scope_data", "response_type", "redirect_uri",
                    "state", "code_challenge", "code_challenge_method"}
SCOPES = {"profile", "profile:user_id", "postal_code"}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakeAmazon(FakeProvider):
    strategy = "amazon"
    hosts = ("www.amazon.com", "api.amazon.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "amzn1.application-oa2-client." + secrets.token_hex(16)
        self.user = {"user_id": "amzn1.account.AF2KYQHNRZ3XW7QTN5BQKX3L4WYA",
                     "name": "Jane Doe", "email": "jane@example.com", "postal_code": "98052"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["user_id"],
                "user_id": f"amazon|{self.user['user_id']}", "email": self.user["email"],
                "email_verified": False, "name": "Jane Doe", "nickname": "jane"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant",
                     "error_description": "The request has an invalid grant parameter : code"}

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK or q.get("response_type") != "code":
            # An unknown client or redirect URI gets an error page, not a redirect.
            return Response("400 Bad Request", 400)
        scopes = q.get("scope", "").split()
        if not scopes or set(scopes) - SCOPES:
            back = {"error": "invalid_scope", "error_description": "An unknown scope was "
                    "requested", "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        code = "ANRmq" + secrets.token_urlsafe(16)
        self.codes[code] = {"scopes": scopes, "challenge": q.get("code_challenge")}
        back = {"code": code, "scope": " ".join(scopes)}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        allowed = {"grant_type", "code", "redirect_uri", "client_id", "client_secret",
                   "code_verifier", "refresh_token"}
        if unknown(form, allowed):
            return _error("invalid_request", f"The request has an invalid parameter : "
                                             f"{unknown(form, allowed)[0]}")
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return _error("invalid_client", "Client authentication failed", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return _error("invalid_grant", "The request has an invalid grant parameter : "
                                               "code")
            if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
                return _error("invalid_grant", "Invalid code_verifier")
            return JSONResponse(self._tokens(grant["scopes"], secrets.token_hex(8)))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "The request has an invalid grant parameter : "
                                               "refresh_token")
            return JSONResponse(self._tokens(old.scopes, old.grant))
        return _error("unsupported_grant_type", "Invalid grant_type")

    def _tokens(self, scopes: list[str], grant: str) -> dict[str, Any]:
        return {"access_token": self.issue("access_token", scopes, grant, "Atza|",
                                           time.time() + self.access_ttl),
                "refresh_token": self.issue("refresh_token", scopes, grant, "Atzr|"),
                "token_type": "bearer", "expires_in": self.access_ttl}

    def _access(self, token: str) -> Any:
        issued = self.tokens.get(token)
        if issued is None or not issued.live or issued.kind != "access_token" or \
                (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return issued

    async def profile(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else \
            request.headers.get("x-amz-access-token", "")
        issued = self._access(token)
        if issued is None:
            return _error("invalid_token", "The request has an invalid parameter : "
                                           "access_token", 401)
        body = {"user_id": self.user["user_id"]}
        if "profile" in issued.scopes:
            body.update(name=self.user["name"], email=self.user["email"])
        if "postal_code" in issued.scopes:
            body["postal_code"] = self.user["postal_code"]
        return JSONResponse(body)

    async def tokeninfo(self, request: Request) -> Response:
        q = dict(request.query_params)
        if unknown(q, {"access_token"}):
            return _error("invalid_request", "The request has an invalid parameter")
        issued = self._access(q.get("access_token", ""))
        if issued is None:
            return _error("invalid_token", "The request has an invalid parameter : "
                                           "access_token")
        assert issued.expires_at is not None
        return JSONResponse({"iss": "https://www.amazon.com", "user_id": self.user["user_id"],
                             "aud": self.client_id, "app_id": "amzn1.application.5d3e1c",
                             "exp": int(issued.expires_at - time.time()),
                             "iat": int(time.time())})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/ap/oa", c("authorize", self.authorize), methods=["GET"]),
            Route("/auth/o2/token", c("token", self.token), methods=["POST"]),
            Route("/auth/o2/tokeninfo", c("validate", self.tokeninfo), methods=["GET"]),
            Route("/user/profile", c("userinfo", self.profile), methods=["GET"]),
        ])
        return HostGuard(app, {"www.amazon.com": ["/ap/oa"],
                               "api.amazon.com": ["/auth/o2/", "/user/profile"]})


STRATEGY = "amazon"
make_fake = FakeAmazon
