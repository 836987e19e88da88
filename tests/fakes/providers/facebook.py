"""A fake of Facebook Login's manual flow and the Graph API calls idbroker makes, as
documented (developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow,
.../guides/access-tokens/get-long-lived, /docs/graph-api/securing-requests,
/docs/graph-api/guides/error-handling, /docs/graph-api/reference/debug_token).

Facebook's rules kept here: versioned paths; the code and long-lived exchanges are GET
requests to ``/oauth/access_token``; a code works once; no refresh tokens; with "Require App
Secret" on (the default here) every Graph call with a user token needs ``appsecret_proof`` =
HMAC-SHA256(app secret, token); errors are ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``, code 190 for a dead token; ``debug_token`` answers an
invalid token with HTTP 200 and ``is_valid: false``; ``DELETE /me/permissions`` de-authorizes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, unknown

VERSIONS = ("v20.0", "v21.0", "v22.0")
DIALOG_PARAMS = {"client_id", "redirect_uri", "state", "response_type", "scope", "auth_type",
                 "display", "config_id"}
LONG_LIVED_S = 5183944
SHORT_LIVED_S = 5400


def graph_error(message: str, code: int, status: int = 400, subcode: int | None = None,
                kind: str = "OAuthException") -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code,
                             "fbtrace_id": secrets.token_urlsafe(8)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return JSONResponse({"error": error}, status)


class FakeFacebook(FakeProvider):
    strategy = "facebook"
    hosts = ("www.facebook.com", "graph.facebook.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = str(10**14 + secrets.randbelow(10**14))
        self.versions_seen: set[str] = set()
        self.user = {"id": "10223344556677889", "name": "Jane Face", "first_name": "Jane",
                     "last_name": "Face", "email": "jane.face@example.com",
                     "picture": {"data": {"height": 50, "is_silhouette": False, "width": 50,
                                          "url": "https://platform-lookaside.fbsbx.com/p/jane"}}}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["id"], "user_id": f"facebook|{self.user['id']}",
                "email": "jane.face@example.com", "email_verified": False,
                "name": "Jane Face", "given_name": "Jane", "family_name": "Face",
                "picture": self.user["picture"]["data"]["url"]}

    def proof(self, token: str) -> str:
        return hmac.new(self.client_secret.encode(), token.encode(), hashlib.sha256).hexdigest()

    def _version(self, request: Request) -> str | None:
        version = request.path_params["version"]
        if version not in VERSIONS:
            return None
        self.versions_seen.add(version)
        return version

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": {"message": "This authorization code has been used.",
                               "type": "OAuthException", "code": 100, "error_subcode": 36009,
                               "fbtrace_id": "AbCdEf"}}

    # --- www.facebook.com ---------------------------------------------------------------------

    async def dialog(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if self._version(request) is None or unknown(q, DIALOG_PARAMS) \
                or q.get("client_id") != self.client_id or q.get("redirect_uri") != CALLBACK \
                or q.get("response_type", "code") != "code":
            return Response("Sorry, something went wrong.", 400)
        code = secrets.token_urlsafe(32)
        scopes = [s for s in q.get("scope", "").replace(",", " ").split() if s]
        self.codes[code] = {"scopes": scopes}
        back = {"code": code, "state": q.get("state", "")}
        return RedirectResponse(CALLBACK + "?" + urlencode(back) + "#_=_", 302)

    # --- graph.facebook.com -------------------------------------------------------------------

    async def access_token(self, request: Request) -> Response:
        if self._version(request) is None:
            return graph_error("Unknown path components", 2500)
        q = dict(request.query_params)
        if q.get("client_id") != self.client_id:
            return graph_error("Error validating application. Invalid application ID.", 101)
        if q.get("client_secret") != self.client_secret:
            return graph_error("Error validating client secret.", 1)
        if q.get("grant_type") == "fb_exchange_token":
            if unknown(q, {"grant_type", "client_id", "client_secret", "fb_exchange_token"}):
                return graph_error("Unsupported parameter", 100)
            old = self.tokens.get(q.get("fb_exchange_token", ""))
            if old is None or not self._usable(old.value):
                return graph_error("Error validating access token: Session has expired.", 190,
                                   subcode=463)
            return JSONResponse(self._token(old.scopes, old.grant, LONG_LIVED_S))
        if unknown(q, {"client_id", "redirect_uri", "client_secret", "code"}):
            return graph_error("Unsupported parameter", 100)
        grant = self.codes.pop(q.get("code", ""), None)
        if grant is None:
            return graph_error("This authorization code has been used.", 100, subcode=36009)
        if q.get("redirect_uri") != CALLBACK:
            return graph_error("Error validating verification code. Please make sure your "
                               "redirect_uri is identical to the one you used in the OAuth "
                               "dialog request", 100, subcode=36008)
        return JSONResponse(self._token(grant["scopes"], secrets.token_hex(8), SHORT_LIVED_S))

    def _token(self, scopes: list[str], grant: str, ttl: int) -> dict[str, Any]:
        value = self.issue("access_token", scopes, grant, "EAAB", time.time() + ttl)
        return {"access_token": value, "token_type": "bearer", "expires_in": ttl}

    def _usable(self, token: str) -> bool:
        issued = self.tokens.get(token)
        return bool(issued and issued.live and (issued.expires_at or 0) > time.time())

    def _caller(self, request: Request) -> tuple[str | None, Response | None]:
        """The user token of a Graph call, checked with its appsecret_proof."""
        if self._version(request) is None:
            return None, graph_error("Unknown path components", 2500)
        token = request.query_params.get("access_token", "")
        if not token:
            return None, graph_error("An active access token must be used to query "
                                     "information about the current user.", 2500)
        proof = request.query_params.get("appsecret_proof")
        if proof is None:
            return None, graph_error("API calls from the server require an appsecret_proof "
                                     "argument", 100, kind="GraphMethodException")
        if not hmac.compare_digest(proof, self.proof(token)):
            return None, graph_error("Invalid appsecret_proof provided in the API argument",
                                     100, kind="GraphMethodException")
        return token, None

    async def me(self, request: Request) -> Response:
        token, refused = self._caller(request)
        if refused:
            return refused
        assert token is not None
        if not self._usable(token):
            return graph_error("Error validating access token: The session has been "
                               "invalidated because the user changed their password or "
                               "Facebook has changed the session for security reasons.", 190,
                               subcode=460)
        fields = request.query_params.get("fields", "id,name").split(",")
        scopes = self.tokens[token].scopes
        body = {f: self.user[f] for f in fields if f in self.user
                and (f != "email" or "email" in scopes)}
        body["id"] = self.user["id"]
        return JSONResponse(body)

    async def permissions(self, request: Request) -> Response:
        token, refused = self._caller(request)
        if refused:
            return refused
        assert token is not None
        if not self._usable(token):
            return graph_error("Error validating access token: The user has not authorized "
                               "application.", 190, subcode=458)
        self.kill_grant(token)
        return JSONResponse({"success": True})

    async def debug_token(self, request: Request) -> Response:
        token, refused = self._caller(request)
        if refused:
            return refused
        if token != f"{self.client_id}|{self.client_secret}":
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        input_token = request.query_params.get("input_token", "")
        issued = self.tokens.get(input_token)
        if issued is None or not self._usable(input_token):
            return JSONResponse({"data": {
                "error": {"code": 190, "message": "Error validating access token: Session "
                                                  "has expired."},
                "is_valid": False, "scopes": []}})
        assert issued.expires_at is not None
        return JSONResponse({"data": {
            "app_id": self.client_id, "type": "USER", "application": "idbroker test app",
            "data_access_expires_at": int(time.time()) + 90 * 86400,
            "expires_at": int(issued.expires_at), "is_valid": True,
            "issued_at": int(time.time()), "scopes": issued.scopes,
            "user_id": self.user["id"]}})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/{version}/dialog/oauth", c("authorize", self.dialog), methods=["GET"]),
            Route("/{version}/oauth/access_token", c("token", self.access_token),
                  methods=["GET"]),
            Route("/{version}/me", c("me", self.me), methods=["GET"]),
            Route("/{version}/me/permissions", c("revoke", self.permissions),
                  methods=["DELETE"]),
            Route("/{version}/debug_token", c("validate", self.debug_token), methods=["GET"]),
        ])
        return HostGuard(app, {"www.facebook.com": [f"/{v}/dialog/" for v in VERSIONS],
                               "graph.facebook.com": ["/v"]})


STRATEGY = "facebook"
make_fake = FakeFacebook
