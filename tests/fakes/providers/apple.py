"""A fake of Sign in with Apple's REST API, as documented (developer.apple.com, "Sign in with
Apple REST API": Request an authorization, Generate and validate tokens, Revoke tokens, Fetch
Apple's public key, Creating a client secret, ErrorResponse), all on appleid.apple.com.

Apple's rules kept here: the client secret is an ES256 JWT (``kid`` = Key ID; ``iss`` = Team
ID, ``sub`` = the Services ID, ``aud`` = https://appleid.apple.com, ``exp`` at most six months
after ``iat``) checked against the developer's public key; asking for ``name``/``email``
requires ``response_mode=form_post``, and the answer is a page that POSTs ``code``, ``state``
and — on the first authorization only — the ``user`` JSON; errors are ``{"error"}`` only;
``email_verified``/``is_private_email`` are strings; scopes other than name and email are
ignored (an assumption: Apple documents only those two); a refresh_token grant (which is also
Apple's only validation, so such a call counts as ``validate`` too) returns no new refresh
token; revocation answers 200 even for an unknown token, and ends the grant.
"""

from __future__ import annotations

import html
import json
import secrets
import time
from functools import cache
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

ISSUER = "https://appleid.apple.com"
AUTHORIZE_PARAMS = {"client_id", "redirect_uri", "response_type", "scope", "response_mode",
                    "state", "nonce"}
TOKEN_PARAMS = {"client_id", "client_secret", "code", "grant_type", "redirect_uri",
                "refresh_token"}


@cache
def _id_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": "W6WcOKB"})


def _error(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status)


class FakeApple(FakeProvider):
    strategy = "apple"
    hosts = ("appleid.apple.com",)

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "com.example.web.signin"
        self.team_id = "ABCDE12345"
        self.key_id = "KEY1234567"
        self.signing_key = ECKey.generate_key("P-256")
        # The conformance suite looks for this in the logs: here it is the private key.
        self.client_secret = self.signing_key.as_pem(private=True).decode()
        self.sub = "001234.5d8f0e3b1c9a4e7f8a2b6c1d0e9f8a7b.1234"
        self.email = "jane@privaterelay.appleid.com"
        self.private_email = True
        self.authorized: set[str] = set()  # users who already saw the consent (and name) once
        self.secrets_seen: list[dict[str, Any]] = []
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def connection_options(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "team_id": self.team_id, "key_id": self.key_id,
                "private_key": self.client_secret}

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.sub, "user_id": f"apple|{self.sub}",
                "email": self.email, "email_verified": True, "name": "Jane Appleseed",
                "given_name": "Jane", "family_name": "Appleseed"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant"}

    # --- endpoints ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        scopes = q.get("scope", "").split()
        mode = q.get("response_mode", "query")
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("redirect_uri") != CALLBACK \
                or q.get("response_type") not in ("code", "code id_token") \
                or mode not in ("query", "fragment", "form_post") \
                or ({"name", "email"} & set(scopes) and mode != "form_post"):
            # Apple shows its own error page ("invalid_request") and does not redirect.
            return Response("invalid_request", 400)
        code = "c" + secrets.token_hex(20)
        self.codes[code] = {"nonce": q.get("nonce"), "scopes": scopes}
        back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        if self.sub not in self.authorized and "name" in scopes:
            back["user"] = json.dumps({"name": {"firstName": "Jane", "lastName": "Appleseed"},
                                       "email": self.email})
        self.authorized.add(self.sub)
        if mode != "form_post":
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in back.items())
        return HTMLResponse(f'<html><body><form method="post" action="{html.escape(CALLBACK)}">'
                            f'{fields}</form><script>document.forms[0].submit()</script>'
                            '</body></html>')

    def _client_ok(self, form: dict[str, str]) -> bool:
        if form.get("client_id") != self.client_id or not form.get("client_secret"):
            return False
        public = ECKey.import_key(self.signing_key.as_dict(private=False))
        try:
            token = jwt.decode(form["client_secret"], public, algorithms=["ES256"])
        except (JoseError, ValueError):
            return False
        claims, now = token.claims, time.time()
        self.secrets_seen.append(claims)
        return (token.header.get("kid") == self.key_id and claims.get("iss") == self.team_id
                and claims.get("sub") == self.client_id and claims.get("aud") == ISSUER
                and isinstance(claims.get("iat"), int) and isinstance(claims.get("exp"), int)
                and claims["exp"] > now and claims["exp"] - claims["iat"] <= 15_777_000)

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, TOKEN_PARAMS):
            return _error("invalid_request")
        if not self._client_ok(form):
            return _error("invalid_client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != CALLBACK:
                return _error("invalid_grant")
            return JSONResponse(self._tokens(grant["scopes"], grant["nonce"]))
        if grant_type == "refresh_token":
            self.calls["validate"] += 1
            queued = self._failures.get("validate")
            if queued:
                failure = queued.pop(0)
                return JSONResponse(failure.body, failure.status, headers=failure.headers)
            issued = self.tokens.get(form.get("refresh_token", ""))
            if issued is None or not issued.live or issued.kind != "refresh_token":
                return _error("invalid_grant")
            access = self.issue("access_token", issued.scopes, issued.grant, "a",
                                time.time() + self.access_ttl)
            return JSONResponse({"access_token": access, "token_type": "Bearer",
                                 "expires_in": self.access_ttl})
        return _error("unsupported_grant_type")

    def _tokens(self, scopes: list[str], nonce: str | None) -> dict[str, Any]:
        grant = secrets.token_hex(8)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": self.client_id, "exp": now + 600, "iat": now,
            "sub": self.sub, "auth_time": now, "nonce_supported": True,
            "real_user_status": 2}
        if nonce:
            claims["nonce"] = nonce
        if "email" in scopes:
            claims.update(email=self.email, email_verified="true",
                          is_private_email="true" if self.private_email else "false")
        return {
            "access_token": self.issue("access_token", scopes, grant, "a",
                                       time.time() + self.access_ttl),
            "token_type": "Bearer", "expires_in": self.access_ttl,
            "refresh_token": self.issue("refresh_token", scopes, grant, "r"),
            "id_token": jwt.encode({"alg": "RS256", "kid": _id_key().kid}, claims, _id_key()),
        }

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"client_id", "client_secret", "token", "token_type_hint"}) \
                or not form.get("token") \
                or form.get("token_type_hint", "access_token") not in ("access_token",
                                                                       "refresh_token"):
            return _error("invalid_request")
        if not self._client_ok(form):
            return _error("invalid_client")
        if form["token"] in self.tokens:
            self.kill_grant(form["token"])
        return Response(status_code=200)

    async def keys(self, request: Request) -> Response:
        return JSONResponse({"keys": [_id_key().as_dict(private=False)]})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/auth/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/auth/token", c("token", self.token), methods=["POST"]),
            Route("/auth/revoke", c("revoke", self.revoke), methods=["POST"]),
            Route("/auth/keys", c("keys", self.keys), methods=["GET"]),
        ])
        return HostGuard(app, {"appleid.apple.com": ["/auth/"]})


STRATEGY = "apple"
make_fake = FakeApple
