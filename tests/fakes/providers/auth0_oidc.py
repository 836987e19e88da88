"""A fake Auth0 tenant as an OpenID Connect provider (auth0.com/docs: "Authentication API",
"Get refresh tokens", "Refresh token rotation", "Revoke refresh tokens"): issuer
``https://{domain}/`` with ``/authorize``, ``/oauth/token``, ``/userinfo``,
``/.well-known/jwks.json`` and ``/oauth/revoke``; no introspection.

Auth0's rules kept here: a refresh token only with ``offline_access``; rotation on, and a
rotated-out refresh token presented again revokes its whole family; ``/oauth/revoke`` ends
the refresh token only (access tokens are not revocable); ``invalid_grant`` is HTTP 403 and a
failed client authentication HTTP 401 ``access_denied``; ``/userinfo`` answers a dead token
with a plain-text 401; subjects carry the upstream connection (``auth0|...``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.providers.base import form_of, unknown
from tests.fakes.providers.keycloak import OIDC_AUTHORIZE, FakeOIDC, oauth_error


class FakeAuth0(FakeOIDC):
    strategy = "auth0-oidc"
    domain = "acme.us.auth0.com"
    hosts = (domain,)
    issuer = f"https://{domain}/"
    endpoints = {"discovery": f"https://{domain}/.well-known/openid-configuration",
                 "authorize": f"https://{domain}/authorize",
                 "token": f"https://{domain}/oauth/token",
                 "userinfo": f"https://{domain}/userinfo",
                 "jwks": f"https://{domain}/.well-known/jwks.json",
                 "revoke": f"https://{domain}/oauth/revoke"}
    authorize_params = frozenset(OIDC_AUTHORIZE | {"audience", "connection", "organization",
                                                   "invitation", "screen_hint",
                                                   "response_mode"})
    offline_scope = "offline_access"
    rotates = True

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "Xq3tBZ9ab1CdEfGhIjKlMnOpQrStUvWx"
        self.user["sub"] = "auth0|65f1c2d3e4a5b6c7d8e9f0a1"
        self.user["nickname"] = "jane"

    def connection_options(self) -> dict[str, Any]:
        return {**super().connection_options(), "domain": self.domain}

    def expected_profile(self) -> dict[str, Any]:
        return {**super().expected_profile(), "nickname": "jane"}

    def token_error(self) -> tuple[int, Any]:
        return 403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}

    async def token(self, request: Request) -> Response:
        form = await form_of(request)
        presented = self.tokens.get(form.get("refresh_token", ""))
        if form.get("grant_type") == "refresh_token" and presented is not None \
                and presented.kind == "refresh_token" and not presented.live:
            # Reuse of a rotated-out refresh token: the whole family is revoked.
            self.kill_grant(presented.value)
        response = await super().token(request)
        if response.status_code == 401:
            return oauth_error("access_denied", "Unauthorized", 401)
        if response.status_code == 400 and b'"invalid_grant"' in bytes(response.body):
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "Unknown or invalid refresh token."
                                 if form.get("grant_type") == "refresh_token"
                                 else "Invalid authorization code"}, 403)
        return response

    async def userinfo(self, request: Request) -> Response:
        if not self.access_live(self.bearer(request)):
            return Response("Unauthorized", 401, media_type="text/plain")
        return JSONResponse(self.user)

    async def revoke(self, request: Request) -> Response:
        form = await form_of(request)
        if not form.get("token") or unknown(form, {"token", "token_type_hint", "client_id",
                                                   "client_secret"}):
            return oauth_error("invalid_request", "token is required")
        if not self.client_ok(request, form):
            return oauth_error("access_denied", "Unauthorized", 401)
        issued = self.tokens.get(form["token"])
        if issued is not None and issued.kind == "refresh_token":
            issued.live = False  # its access tokens are JWTs: they live until they expire
        return Response(status_code=200)


STRATEGY = "auth0-oidc"
make_fake = FakeAuth0
