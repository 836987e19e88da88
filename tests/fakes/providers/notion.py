"""A fake of Notion's public-integration OAuth endpoints, as documented
(developers.notion.com: "Authorization", "Create a token", "Refresh a token", "Revoke a
token", "Introspect a token", "Status codes").

Notion's rules kept here: everything on api.notion.com under /v1/oauth/; the authorize URL
takes ``client_id``, ``response_type=code``, ``owner=user``, ``redirect_uri``, ``state`` and
no ``scope``; the token, revoke and introspect endpoints want HTTP Basic client credentials,
a JSON body and a ``Notion-Version`` header (400 ``missing_version`` without one); the token
response carries ``bot_id``, the workspace and ``owner.user`` and no ``expires_in``; a refresh
returns a new refresh token and retires the old one; token endpoint errors are
``{"error", "error_description"}``, other errors ``{"object": "error", "status", "code",
"message", "request_id"}``. Revoking a token is assumed to end the whole authorization.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, unknown

AUTHORIZE_PARAMS = {"client_id", "response_type", "owner", "redirect_uri", "state"}


def api_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"object": "error", "status": status, "code": code, "message": message,
                         "request_id": str(uuid.uuid4())}, status)


def token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description,
                         "request_id": str(uuid.uuid4())}, status)


class FakeNotion(FakeProvider):
    strategy = "notion"
    hosts = ("api.notion.com",)
    has_no_scopes = True  # the conformance suite reads this
    reports_expiry = False  # no expires_in in the token response

    def __init__(self) -> None:
        super().__init__()
        self.client_id = str(uuid.uuid4())
        self.versions_seen: set[str] = set()
        self.user = {"object": "user", "id": "e79a0b74-3aba-4149-9f74-0bb5791a6ee6",
                     "name": "Jane Notion", "avatar_url": "https://s3-us-west-2.amazonaws.com/"
                     "public.notion-static.com/jane.png", "type": "person",
                     "person": {"email": "jane@notion.example.com"}}
        self.workspace = {"workspace_id": "1b2c3d4e-0000-4000-8000-00000000abcd",
                          "workspace_name": "Jane's Notion",
                          "workspace_icon": "https://www.notion.so/icons/home.svg"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["id"], "user_id": f"notion|{self.user['id']}",
                "email": "jane@notion.example.com", "email_verified": False,
                "name": "Jane Notion", "picture": self.user["avatar_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "Invalid code."}

    # --- endpoints ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("response_type") != "code" or q.get("owner") != "user" \
                or q.get("redirect_uri") != CALLBACK:
            return Response("Invalid OAuth request", 400)
        code = str(uuid.uuid4())
        self.codes[code] = {"redirect_uri": q["redirect_uri"]}
        back = {"code": code, "state": q.get("state", "")}
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def _checked(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        """The JSON body of a Basic-authenticated, versioned request, or the error."""
        version = request.headers.get("notion-version")
        if not version:
            return None, api_error(400, "missing_version",
                                   "Notion-Version header failed validation")
        self.versions_seen.add(version)
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        cid, _, secret = base64.b64decode(raw or "").decode().partition(":") \
            if scheme == "Basic" else ("", "", "")
        if cid != self.client_id or secret != self.client_secret:
            return None, token_error("invalid_client", "Client authentication failed.", 401)
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return None, api_error(400, "invalid_json", "Body failed validation.")
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return None, api_error(400, "invalid_json", "Body failed validation.")
        return body, None

    async def token(self, request: Request) -> Response:
        body, refused = await self._checked(request)
        if refused:
            return refused
        assert body is not None
        if unknown(body, {"grant_type", "code", "redirect_uri", "refresh_token",
                          "external_account"}):
            return api_error(400, "validation_error", "body failed validation")
        if body.get("grant_type") == "authorization_code":
            grant = self.codes.pop(str(body.get("code", "")), None)
            if grant is None:
                return token_error("invalid_grant", "Invalid code.")
            if body.get("redirect_uri") != grant["redirect_uri"]:
                return token_error("invalid_grant", "Invalid redirect_uri.")
            return JSONResponse(self._tokens(secrets.token_hex(8)))
        if body.get("grant_type") == "refresh_token":
            old = self.tokens.get(str(body.get("refresh_token", "")))
            if old is None or not old.live or old.kind != "refresh_token":
                return token_error("invalid_grant", "Token has been expired or revoked.")
            old.live = False  # rotated
            return JSONResponse(self._tokens(old.grant))
        return token_error("unsupported_grant_type", "Unsupported grant type.")

    def _tokens(self, grant: str) -> dict[str, Any]:
        return {"access_token": self.issue("access_token", [], grant, "ntn_"),
                "token_type": "bearer",
                "refresh_token": self.issue("refresh_token", [], grant, "nrt_"),
                "bot_id": "9a3a9c3e-7c3b-4b49-9a52-8f8a6f1b2c3d", **self.workspace,
                "owner": {"type": "user", "user": self.user},
                "duplicated_template_id": None, "request_id": str(uuid.uuid4())}

    async def revoke(self, request: Request) -> Response:
        body, refused = await self._checked(request)
        if refused:
            return refused
        assert body is not None
        if set(body) != {"token"}:
            return api_error(400, "validation_error", "body failed validation")
        issued = self.tokens.get(str(body["token"]))
        if issued is None or not issued.live:
            return token_error("invalid_grant", "Token has been expired or revoked.")
        self.kill_grant(issued.value)
        return JSONResponse({"request_id": str(uuid.uuid4())})

    async def introspect(self, request: Request) -> Response:
        body, refused = await self._checked(request)
        if refused:
            return refused
        assert body is not None
        if set(body) != {"token"}:
            return api_error(400, "validation_error", "body failed validation")
        issued = self.tokens.get(str(body["token"]))
        if issued is None or not issued.live:
            return JSONResponse({"active": False, "request_id": str(uuid.uuid4())})
        return JSONResponse({"active": True, "scope": "read_content update_content",
                             "iat": 1735689600, "request_id": str(uuid.uuid4())})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/v1/oauth/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/v1/oauth/token", c("token", self.token), methods=["POST"]),
            Route("/v1/oauth/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/v1/oauth/introspect", c("validate", self.introspect), methods=["POST"]),
        ])
        return HostGuard(app, {"api.notion.com": ["/v1/oauth/"]})


STRATEGY = "notion"


def make_fake() -> FakeNotion:
    return FakeNotion()
