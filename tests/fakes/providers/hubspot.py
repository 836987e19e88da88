"""A fake of HubSpot's OAuth install flow and OAuth tokens API, as documented
(developers.hubspot.com: "Working with OAuth", "OAuth tokens API" v1 — token, access-token
metadata, refresh-token deletion — and v3 token introspection).

HubSpot's rules kept here: the install page is on app.hubspot.com and takes ``client_id``,
``redirect_uri``, a space-separated ``scope`` that must include ``oauth``, ``optional_scope``
and ``state``; the token endpoint (api.hubapi.com, form body, client credentials in the body)
answers ``{"token_type": "bearer", "refresh_token", "access_token", "expires_in": 1800}`` and
v1 errors ``{"status": "BAD_AUTH_CODE" | "BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID" | ..., "message",
"correlationId"}``; a refresh returns the same refresh token; the access-token metadata names
``user`` (email), ``user_id``, ``hub_id``, ``hub_domain``, ``app_id``, ``scopes``; deleting a
refresh token leaves the access tokens it issued alive until they expire; introspection
takes the client credentials and ``token`` in a form body and answers ``{"active": ...}``, or a
v3 VALIDATION_ERROR naming ``token`` for a token it does not know.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "redirect_uri", "scope", "optional_scope", "state"}


def v1_error(status: str, message: str, code: int = 400) -> JSONResponse:
    return JSONResponse({"status": status, "message": message,
                         "correlationId": str(uuid.uuid4()), "requestId": uuid.uuid4().hex},
                        code)


def v3_error(message: str, context: dict[str, list[str]], code: int = 400) -> JSONResponse:
    return JSONResponse({"category": "VALIDATION_ERROR", "correlationId": str(uuid.uuid4()),
                         "message": message, "context": context,
                         "links": {"documentation": "https://developers.hubspot.com/docs/api/"
                                                    "overview"}}, code)


class FakeHubSpot(FakeProvider):
    strategy = "hubspot"
    hosts = ("app.hubspot.com", "api.hubapi.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = str(uuid.uuid4())
        self.app_id = 456789
        self.access_ttl = 1800
        self.installer = {"user": "jane@acme.example.com", "user_id": 7811234,
                          "hub_id": 62515, "hub_domain": "acme-62515.hubspot.com"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "7811234", "user_id": "hubspot|7811234",
                "email": "jane@acme.example.com", "email_verified": False,
                "name": "jane@acme.example.com", "nickname": "jane"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"status": "BAD_AUTH_CODE", "message": "missing or unknown auth code",
                     "correlationId": str(uuid.uuid4())}

    # --- app.hubspot.com ----------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        scopes = q.get("scope", "").split(" ")
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK or "oauth" not in scopes \
                or "," in q.get("scope", ""):
            # HubSpot shows an error page and does not redirect.
            return Response("Authorization failed because of a problem with the app's "
                            "install URL", 400)
        code = str(uuid.uuid4())
        self.codes[code] = {"scopes": scopes + q.get("optional_scope", "").split()}
        back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    # --- api.hubapi.com -------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"grant_type", "client_id", "client_secret", "redirect_uri", "code",
                          "refresh_token"}):
            return v1_error("BAD_REQUEST", "unknown parameter")
        if form.get("client_id") != self.client_id:
            return v1_error("BAD_CLIENT_ID", "missing or invalid client_id")
        if form.get("client_secret") != self.client_secret:
            return v1_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if form.get("grant_type") == "authorization_code":
            if form.get("redirect_uri") != CALLBACK:
                return v1_error("BAD_REDIRECT_URI", "redirect_uri does not match")
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return v1_error("BAD_AUTH_CODE", "missing or unknown auth code")
            grant_id = secrets.token_hex(8)
            refresh = self.issue("refresh_token", grant["scopes"], grant_id)
            return JSONResponse(self._tokens(grant["scopes"], grant_id, refresh))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return v1_error("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
            return JSONResponse(self._tokens(old.scopes, old.grant, old.value))
        return v1_error("BAD_GRANT_TYPE", "missing or invalid grant_type")

    def _tokens(self, scopes: list[str], grant: str, refresh: str) -> dict[str, Any]:
        access = self.issue("access_token", scopes, grant, "CN",
                            time.time() + self.access_ttl)
        return {"token_type": "bearer", "refresh_token": refresh, "access_token": access,
                "expires_in": self.access_ttl}

    def _live_access(self, token: str) -> bool:
        issued = self.tokens.get(token)
        return bool(issued and issued.live and issued.kind == "access_token"
                    and (issued.expires_at is None or issued.expires_at > time.time()))

    async def access_token_metadata(self, request: Request) -> Response:
        token = request.path_params["token"]
        if not self._live_access(token):
            return JSONResponse({"status": "error", "message": "The access token is expired "
                                 "or invalid", "correlationId": str(uuid.uuid4())}, 404)
        issued = self.tokens[token]
        assert issued.expires_at is not None
        return JSONResponse({"token": token, **self.installer, "app_id": self.app_id,
                             "scopes": issued.scopes, "token_type": "access",
                             "expires_in": int(issued.expires_at - time.time()),
                             "is_private_distribution": False})

    async def delete_refresh_token(self, request: Request) -> Response:
        issued = self.tokens.get(request.path_params["token"])
        if issued is None or not issued.live or issued.kind != "refresh_token":
            return v1_error("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
        issued.live = False  # only the refresh token: access tokens live on
        return Response(status_code=204)

    async def introspect(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"client_id", "client_secret", "token", "token_type_hint"}):
            return v3_error("Invalid input", {"body": ["unknown field"]})
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return v3_error("Invalid client credentials", {"client_id": ["invalid"]}, 401)
        issued = self.tokens.get(form.get("token", ""))
        if issued is None or not issued.live:
            return v3_error("Token is invalid", {"token": ["Token is invalid"]})
        if issued.kind == "access_token" and not self._live_access(issued.value):
            return JSONResponse({"active": False})
        return JSONResponse({"active": True, "client_id": self.client_id,
                             "token_type": issued.kind, "scope": " ".join(issued.scopes),
                             "hub_id": self.installer["hub_id"],
                             "user_id": self.installer["user_id"],
                             **({"exp": int(issued.expires_at)} if issued.expires_at else {})})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/oauth/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/oauth/v1/token", c("token", self.token), methods=["POST"]),
            Route("/oauth/v1/access-tokens/{token}", c("profile", self.access_token_metadata),
                  methods=["GET"]),
            Route("/oauth/v1/refresh-tokens/{token}", c("revoke", self.delete_refresh_token),
                  methods=["DELETE"]),
            Route("/oauth/v3/token/introspect", c("validate", self.introspect),
                  methods=["POST"]),
        ])
        return HostGuard(app, {"app.hubspot.com": ["/oauth/authorize"],
                               "api.hubapi.com": ["/oauth/v1/", "/oauth/v3/"]})


STRATEGY = "hubspot"


def make_fake() -> FakeHubSpot:
    return FakeHubSpot()
