"""A fake Okta org (developer.okta.com/docs/reference/api/oidc): a custom authorization
server ``default`` at ``https://dev-123456.okta.com/oauth2/default`` with ``/v1/authorize``,
``/v1/token``, ``/v1/userinfo``, ``/v1/keys``, ``/v1/revoke`` and ``/v1/introspect``.
A refresh token only with ``offline_access``; errors are ``{"error", "error_description"}``."""

from __future__ import annotations

from typing import Any

from tests.fakes.providers.keycloak import OIDC_AUTHORIZE, FakeOIDC


class FakeOkta(FakeOIDC):
    strategy = "okta"
    domain = "dev-123456.okta.com"
    hosts = (domain,)
    server = "default"
    issuer = f"https://{domain}/oauth2/{server}"
    endpoints = {"discovery": f"{issuer}/.well-known/openid-configuration",
                 "authorize": f"{issuer}/v1/authorize", "token": f"{issuer}/v1/token",
                 "userinfo": f"{issuer}/v1/userinfo", "jwks": f"{issuer}/v1/keys",
                 "revoke": f"{issuer}/v1/revoke", "introspect": f"{issuer}/v1/introspect"}
    authorize_params = frozenset(OIDC_AUTHORIZE | {"idp", "sessionToken", "response_mode"})
    offline_scope = "offline_access"
    rotates = True

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "0oa1b2c3d4e5f6g7h8i9"
        self.user["sub"] = "00u1a2b3c4d5e6f7g8h9"

    def connection_options(self) -> dict[str, Any]:
        return {**super().connection_options(), "domain": self.domain,
                "authorization_server_id": self.server}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant",
                     "error_description": "The authorization code is invalid or has expired."}


STRATEGY = "okta"
make_fake = FakeOkta
