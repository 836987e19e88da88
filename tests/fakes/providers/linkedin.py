"""A fake of Sign In with LinkedIn using OpenID Connect: /oauth/v2/authorization,
/oauth/v2/accessToken (credentials in the body only), /oauth/openid/jwks and
/oauth/v2/introspectToken on www.linkedin.com, /v2/userinfo on api.linkedin.com.
Refresh tokens only for an app approved for programmatic refresh (``partner``); a refresh
returns no ID token. Token errors are ``{"error", "error_description"}``."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.providers.base import form_of, unknown
from tests.fakes.providers.keycloak import FakeOIDC, oauth_error

W = "https://www.linkedin.com"


class FakeLinkedIn(FakeOIDC):
    strategy = "linkedin"
    hosts = ("www.linkedin.com", "api.linkedin.com")
    issuer = f"{W}/oauth"
    endpoints = {"authorize": f"{W}/oauth/v2/authorization",
                 "token": f"{W}/oauth/v2/accessToken",
                 "userinfo": "https://api.linkedin.com/v2/userinfo",
                 "jwks": f"{W}/oauth/openid/jwks",
                 "introspect": f"{W}/oauth/v2/introspectToken"}
    token_auth = ("client_secret_post",)
    id_token_on_refresh = False

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "86abcdef123xyz"
        self.user.update({"sub": "782bbtaQ", "email": "jane@example.com",
                          "email_verified": True, "locale": {"country": "US", "language": "en"},
                          "picture": "https://media.licdn.com/dms/image/jane"})
        del self.user["preferred_username"]
        self.refresh_allowed = True  # the app is approved for programmatic refresh

    def id_token_claims(self, access: str, nonce: str | None) -> dict[str, Any]:
        claims = super().id_token_claims(access, nonce)
        claims.pop("at_hash", None)
        claims["email_verified"] = "true"  # LinkedIn's ID token says it as a string
        claims["locale"] = "en_US"
        return claims

    def tokens_body(self, scopes: list[str], nonce: str | None, refresh: bool,
                    grant: str | None = None) -> dict[str, Any]:
        body = super().tokens_body(scopes, nonce, refresh, grant)
        if "refresh_token" in body:
            body["refresh_token_expires_in"] = 31_536_000
        return body

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_request", "error_description":
                     "Unable to retrieve access token: appid/redirect uri/code verifier does "
                     "not match authorization code. Or authorization code expired."}

    async def introspect(self, request: Request) -> Response:
        form = await form_of(request)
        if unknown(form, {"client_id", "client_secret", "token"}) or not form.get("token"):
            return oauth_error("invalid_request", "A required parameter \"token\" is missing")
        if not self.client_ok(request, form):
            return oauth_error("invalid_client", "Client authentication failed", 401)
        issued = self.tokens.get(form["token"])
        if issued is None or not self.access_live(form["token"]):
            status = "revoked" if issued is not None else "expired"
            return JSONResponse({"active": False, "status": status})
        assert issued.expires_at is not None
        return JSONResponse({"active": True, "client_id": self.client_id,
                             "authorized_at": int(time.time()), "created_at": int(time.time()),
                             "status": "active", "expires_at": int(issued.expires_at),
                             "scope": ",".join(issued.scopes), "auth_type": "3L"})


STRATEGY = "linkedin"
make_fake = FakeLinkedIn
