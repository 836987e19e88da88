"""A fake of Dropbox's OAuth 2.0 flow and the two RPC endpoints idbroker uses, as documented
(developers.dropbox.com "OAuth Guide" and HTTP API reference "oauth2/authorize",
"oauth2/token", "users/get_current_account", "check/user", "auth/token/revoke").

Dropbox's rules kept here: ``/oauth2/authorize`` lives on www.dropbox.com, the token endpoint
and the RPC API on api.dropboxapi.com; the token endpoint takes the client credentials as
Basic or as form fields (never both), supports PKCE (S256), answers RFC 6749 errors with
HTTP 400 (``invalid_grant`` for a bad or reused code and for a dead refresh token,
``invalid_client``), and returns ``token_type: "bearer"``, ``expires_in`` (14400),
``account_id``, ``uid`` and, only with ``token_access_type=offline``, a ``refresh_token``
that is not rotated; a refresh answers a new access token only. RPC endpoints are POST; one
without arguments takes no body (or the JSON ``null``), and a bad token gets 401 with
``{"error_summary", "error": {".tag": "invalid_access_token"}}``. ``auth/token/revoke``
disables the bearer access token and the refresh token it belongs to, and answers ``null``;
``check/user`` echoes ``{"query"}`` as ``{"result"}`` for a live token.
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

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "response_type", "redirect_uri", "scope", "state",
                    "token_access_type", "code_challenge", "code_challenge_method",
                    "require_role", "force_reapprove", "disable_signup", "locale",
                    "force_reauthentication", "include_granted_scopes", "prompt"}
TOKEN_PARAMS = {"code", "grant_type", "redirect_uri", "client_id", "client_secret",
                "code_verifier", "refresh_token", "scope"}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


def _rpc_error(tag: str, status: int = 401) -> JSONResponse:
    return JSONResponse({"error_summary": f"{tag}/...", "error": {".tag": tag}}, status)


class FakeDropbox(FakeProvider):
    strategy = "dropbox"
    hosts = ("www.dropbox.com", "api.dropboxapi.com")

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_hex(8)[:15]  # an "app key"
        self.access_ttl = 14400
        self.account = {
            "account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
            "name": {"given_name": "Franz", "surname": "Ferdinand", "familiar_name": "Franz",
                     "display_name": "Franz Ferdinand (Personal)", "abbreviated_name": "FF"},
            "email": "franz@dropbox.com", "email_verified": True, "disabled": False,
            "locale": "en", "referral_link": "https://db.tt/ZITNuhtI", "is_paired": False,
            "account_type": {".tag": "basic"},
            "root_info": {".tag": "user", "home_namespace_id": "3235641",
                          "root_namespace_id": "3235641"},
            "profile_photo_url": "https://dl-web.dropbox.com/account_photo/get/dbaphid%3AAAH",
            "country": "US"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        aid = self.account["account_id"]
        return {"identity_user_id": aid, "user_id": f"dropbox|{aid}",
                "email": "franz@dropbox.com", "email_verified": True,
                "name": "Franz Ferdinand (Personal)", "given_name": "Franz",
                "family_name": "Ferdinand", "picture": self.account["profile_photo_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant",
                     "error_description": "code doesn't exist or has expired"}

    # --- www.dropbox.com --------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("response_type") != "code" or q.get("redirect_uri") != CALLBACK:
            # Dropbox shows an error page to the person; nothing comes back to the app.
            return Response("Invalid client_id or redirect_uri", 400)
        if q.get("token_access_type") not in (None, "online", "offline", "legacy"):
            return Response("Invalid token_access_type", 400)
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return Response("Invalid code_challenge_method", 400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"scopes": q.get("scope", "").split(),
                            "offline": q.get("token_access_type") == "offline",
                            "challenge": q.get("code_challenge")}
        back = {"code": code}
        if "state" in q:
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    # --- api.dropboxapi.com -----------------------------------------------------------------

    def _client(self, request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            if "client_secret" in form:
                return False  # one client authentication method, not two
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user == self.client_id and password == self.client_secret
        return form.get("client_id") == self.client_id and \
            form.get("client_secret") == self.client_secret

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, TOKEN_PARAMS):
            return _error("invalid_request", f"unknown field {unknown(form, TOKEN_PARAMS)[0]}")
        if not self._client(request, form):
            return _error("invalid_client", "Invalid client_id or client_secret", 400)
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "refresh token is invalid or revoked")
            access = self.issue("access_token", old.scopes, old.grant, "sl.",
                                time.time() + self.access_ttl)
            return JSONResponse({"access_token": access, "token_type": "bearer",
                                 "expires_in": self.access_ttl})
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "grant_type is not supported")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return _error("invalid_grant", "code doesn't exist or has expired")
        if form.get("redirect_uri") != CALLBACK:
            return _error("invalid_grant", "redirect_uri mismatch")
        if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
            return _error("invalid_grant", "invalid code verifier")
        family = secrets.token_hex(8)
        body: dict[str, Any] = {
            "access_token": self.issue("access_token", grant["scopes"], family, "sl.",
                                       time.time() + self.access_ttl),
            "token_type": "bearer", "expires_in": self.access_ttl,
            "scope": " ".join(grant["scopes"]),
            "account_id": self.account["account_id"], "uid": "12345"}
        if grant["offline"]:
            body["refresh_token"] = self.issue("refresh_token", grant["scopes"], family)
        return JSONResponse(body)

    async def _rpc_bearer(self, request: Request) -> tuple[str | None, Response | None]:
        raw = await request.body()
        ctype = request.headers.get("content-type")
        if raw and not (ctype == "application/json" and raw.strip() == b"null"):
            return None, Response("Error in call: request body: could not decode input as "
                                  "JSON", 400, media_type="text/plain")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or issued.kind != "access_token":
            return None, _rpc_error("invalid_access_token")
        if not issued.live:
            return None, _rpc_error("invalid_access_token")
        if issued.expires_at is not None and issued.expires_at < time.time():
            return None, _rpc_error("expired_access_token")
        return token, None

    async def current_account(self, request: Request) -> Response:
        token, refused = await self._rpc_bearer(request)
        if refused:
            return refused
        assert token is not None
        if "account_info.read" not in self.tokens[token].scopes:
            return JSONResponse({"error_summary": "missing_scope/..", "error": {
                ".tag": "missing_scope", "required_scope": "account_info.read"}}, 401)
        return JSONResponse(self.account)

    async def check_user(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if request.headers.get("content-type") != "application/json" or \
                not isinstance(body, dict) or set(body) - {"query"}:
            return Response("Error in call to API function \"check/user\": request body: "
                            "could not decode input as JSON", 400, media_type="text/plain")
        if scheme != "Bearer" or issued is None or issued.kind != "access_token" \
                or not issued.live:
            return _rpc_error("invalid_access_token")
        if issued.expires_at is not None and issued.expires_at < time.time():
            return _rpc_error("expired_access_token")
        return JSONResponse({"result": body.get("query", "")})

    async def revoke(self, request: Request) -> Response:
        token, refused = await self._rpc_bearer(request)
        if refused:
            return refused
        assert token is not None
        self.kill_grant(token)
        return JSONResponse(None)

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/oauth2/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/oauth2/token", c("token", self.token), methods=["POST"]),
            Route("/2/users/get_current_account", c("profile", self.current_account),
                  methods=["POST"]),
            Route("/2/check/user", c("validate", self.check_user), methods=["POST"]),
            Route("/2/auth/token/revoke", c("revoke", self.revoke), methods=["POST"]),
        ])
        return HostGuard(app, {"www.dropbox.com": ["/oauth2/authorize"],
                               "api.dropboxapi.com": ["/oauth2/token", "/2/"]})


STRATEGY = "dropbox"


def make_fake() -> FakeDropbox:
    return FakeDropbox()
