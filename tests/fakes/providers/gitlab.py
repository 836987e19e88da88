"""A fake of GitLab as an OAuth 2.0 / OpenID Connect provider, as documented (docs.gitlab.com:
"OAuth 2.0 identity provider API", "GitLab as an OpenID Connect identity provider"), at
gitlab.com or under a self-managed instance's URL (which may carry a relative URL root).

GitLab's rules kept here: ``/oauth/authorize`` takes ``client_id``, ``redirect_uri``,
``response_type=code``, ``state``, ``scope``, PKCE and ``nonce``; ``/oauth/token`` takes the
client credentials in the body or as Basic and answers Doorkeeper errors (``invalid_grant``
400, ``invalid_client`` 401); every grant has a refresh token (two-hour access tokens) and a
refresh revokes the refresh token it used; ``/oauth/revoke`` is RFC 7009; ``/oauth/token/info``
answers 401 ``invalid_token`` for a dead token; the ID token is RS256 with a numeric-string
``sub``.
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
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "redirect_uri", "response_type", "state", "scope",
                    "code_challenge", "code_challenge_method", "nonce", "prompt"}
SCOPES = {"openid", "profile", "email", "read_user", "api", "read_api", "read_repository",
          "extra.scope"}  # extra.scope: the conformance suite's
BAD_GRANT = ("The provided authorization grant is invalid, expired, revoked, does not match "
             "the redirection URI used in the authorization request, or was issued to another "
             "client.")


@cache
def _key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


class FakeGitLab(FakeProvider):
    strategy = "gitlab"

    def __init__(self, base_url: str = "https://gitlab.com") -> None:
        super().__init__()
        self.base_url = base_url
        self.root = urlsplit(base_url).path  # relative URL root, "" on gitlab.com
        self.hosts = (urlsplit(base_url).hostname or "",)
        self.client_id = secrets.token_hex(32)
        self.client_secret = "gloas-" + secrets.token_hex(32)
        self.access_ttl = 7200
        self.user = {"sub": "1234567", "name": "Gil Lab", "nickname": "gillab",
                     "preferred_username": "gillab", "email": "gil@lab.example",
                     "email_verified": True, "website": "", "profile": f"{base_url}/gillab",
                     "picture": "https://gitlab.com/uploads/-/system/user/avatar/1234567/a.png"}
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def connection_options(self) -> dict[str, Any]:
        options = super().connection_options()
        if self.base_url != "https://gitlab.com":
            options["base_url"] = self.base_url
        return options

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.user["sub"], "user_id": f"gitlab|{self.user['sub']}",
                "email": self.user["email"], "email_verified": True, "name": "Gil Lab",
                "nickname": "gillab", "picture": self.user["picture"]}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": BAD_GRANT}

    # --- endpoints ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        scopes = q.get("scope", "").split(" ")
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK or q.get("response_type") != "code" \
                or not set(scopes) <= SCOPES \
                or q.get("code_challenge_method", "S256") not in ("S256", "plain"):
            # GitLab shows "An error has occurred" and does not redirect.
            return Response("The client is not authorized to perform this request", 400)
        code = secrets.token_hex(32)
        self.codes[code] = {"scopes": scopes, "nonce": q.get("nonce"),
                            "challenge": q.get("code_challenge")}
        back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        if scheme == "Basic":
            cid, _, secret = base64.b64decode(raw).decode().partition(":")
            return cid == self.client_id and secret == self.client_secret
        return form.get("client_id") == self.client_id and \
            form.get("client_secret") == self.client_secret

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        allowed = {"grant_type", "client_id", "client_secret", "code", "redirect_uri",
                   "code_verifier", "refresh_token", "scope"}
        if not form or unknown(form, allowed):
            return _error("invalid_request", "The request is missing a required parameter, "
                                             "includes an unsupported parameter value.")
        if not self._client_ok(request, form):
            return _error("invalid_client", "Client authentication failed due to unknown "
                                            "client, no client authentication included, or "
                                            "unsupported authentication method.", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return _error("invalid_grant", BAD_GRANT)
            if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
                return _error("invalid_grant", BAD_GRANT)
            return JSONResponse(self._tokens(grant["scopes"], grant["nonce"],
                                             secrets.token_hex(8)))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", BAD_GRANT)
            old.live = False  # rotation: the used refresh token is revoked
            return JSONResponse(self._tokens(old.scopes, None, old.grant))
        return _error("unsupported_grant_type",
                      "The authorization grant type is not supported by the authorization "
                      "server.")

    def _tokens(self, scopes: list[str], nonce: str | None, grant: str) -> dict[str, Any]:
        now = int(time.time())
        access = self.issue("access_token", scopes, grant, "", time.time() + self.access_ttl)
        body: dict[str, Any] = {
            "access_token": access, "token_type": "Bearer", "expires_in": self.access_ttl,
            "refresh_token": self.issue("refresh_token", scopes, grant),
            "scope": " ".join(scopes), "created_at": now}
        if "openid" in scopes:
            claims = {"iss": self.base_url, "sub": self.user["sub"], "aud": self.client_id,
                      "exp": now + 120, "iat": now, "auth_time": now - 5,
                      "sub_legacy": hashlib.sha256(b"legacy").hexdigest(),
                      **{k: v for k, v in self.user.items() if k != "sub"},
                      "groups_direct": ["acme"]}
            if nonce:
                claims["nonce"] = nonce
            body["id_token"] = jwt.encode({"alg": "RS256", "kid": _key().kid, "typ": "JWT"},
                                          claims, _key())
        return body

    def _bearer(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or not issued.live \
                or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return token

    @staticmethod
    def _invalid_token() -> JSONResponse:
        return JSONResponse({"error": "invalid_token",
                             "error_description": "The access token is invalid",
                             "state": "unauthorized"}, 401,
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    async def userinfo(self, request: Request) -> Response:
        token = self._bearer(request)
        if token is None:
            return self._invalid_token()
        scopes = self.tokens[token].scopes
        body = {k: v for k, v in self.user.items()
                if "email" in scopes or k not in ("email", "email_verified")}
        return JSONResponse({**body, "groups": ["acme"]})

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if not form.get("token") or unknown(form, {"token", "token_type_hint", "client_id",
                                                   "client_secret"}):
            return _error("invalid_request", "The request is missing a required parameter.")
        if not self._client_ok(request, form):
            return _error("invalid_client", "Client authentication failed.", 401)
        if form["token"] in self.tokens:
            self.kill_grant(form["token"])
        return JSONResponse({})

    async def token_info(self, request: Request) -> Response:
        token = self._bearer(request)
        if token is None:
            return self._invalid_token()
        issued = self.tokens[token]
        remaining = int((issued.expires_at or time.time()) - time.time())
        return JSONResponse({"resource_owner_id": int(self.user["sub"]),
                             "scope": issued.scopes, "expires_in": remaining,
                             "application": {"uid": self.client_id},
                             "created_at": int(time.time()),
                             # deprecated duplicates GitLab still sends
                             "scopes": issued.scopes, "expires_in_seconds": remaining})

    async def keys(self, request: Request) -> Response:
        return JSONResponse({"keys": [_key().as_dict(private=False)]})

    def _build(self) -> ASGIApp:
        c, r = self.counted, self.root
        app = Starlette(routes=[
            Route(r + "/oauth/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route(r + "/oauth/token", c("token", self.token), methods=["POST"]),
            Route(r + "/oauth/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route(r + "/oauth/token/info", c("validate", self.token_info), methods=["GET"]),
            Route(r + "/oauth/userinfo", c("userinfo", self.userinfo), methods=["GET", "POST"]),
            Route(r + "/oauth/discovery/keys", c("keys", self.keys), methods=["GET"]),
        ])
        return HostGuard(app, {self.hosts[0]: [r + "/oauth/"]})


STRATEGY = "gitlab"


def make_fake() -> FakeGitLab:
    return FakeGitLab()
