"""Another Auth0 tenant as the upstream (``strategy: "auth0-oidc"``): an OpenID Connect preset.

Auth0 itself has no social strategy for this: its way to sign in with another Auth0 tenant is
an OpenID Connect enterprise connection (``strategy: "oidc"``, which idbroker also offers).
This preset only derives the endpoints from the tenant's ``domain`` and knows Auth0's rules;
the name says what it is and cannot clash with an Auth0 strategy (docs/providers/auth0-oidc.md).

Auth0 specifics (auth0.com/docs: "Locate the OIDC discovery endpoint", "Get refresh tokens",
"Refresh token rotation", "Revoke refresh tokens", "Authentication API: /userinfo"): the
issuer is ``https://{domain}/`` (with the slash), discovery at
``https://{domain}/.well-known/openid-configuration``; a refresh token only with the
``offline_access`` scope (and the application's Refresh Token grant and the API's "Allow
Offline Access"); rotation is a per-application setting, and reusing a rotated refresh token
revokes the whole family. ``POST /oauth/revoke`` revokes a **refresh token** (and what it
would mint); access tokens are not revocable and live until they expire. No introspection:
validation is a ``/userinfo`` probe. Token endpoint errors are ``{"error",
"error_description"}``, HTTP 403 for ``invalid_grant`` and 401 for a failed client
authentication.
"""

from __future__ import annotations

from typing import Any, ClassVar

from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.keycloak import PresetOIDCConnector, PresetOptions, \
    RFC7009Revocation, host_name
from idbroker.connectors.revocation import RevocationResult
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="auth0-oidc", display_name="Auth0 tenant (OpenID Connect)", protocol="oidc",
    default_scopes=("openid", "profile", "email"),
    offline_params={"scope": "offline_access"},
    supports_refresh=True,
    refresh_method="refresh_token grant with `offline_access` (rotated when the application "
                   "enables rotation; reusing a rotated one revokes the family)",
    supports_revocation=True,
    revocation_method="POST https://{domain}/oauth/revoke (RFC 7009; the refresh token only: "
                      "access tokens live until they expire)",
    revocation_spares_access_token=True,
    validation_method="userinfo",
    email_trust="`email_verified` claim",
    rotates_refresh_tokens=True,
    notes=("issuer https://{domain}/ (custom domains work the same way)",),
)


class Auth0Options(PresetOptions):
    domain: str
    preset: ClassVar[str] = "auth0-oidc"

    @classmethod
    def endpoints(cls, raw: dict[str, Any]) -> dict[str, Any]:
        domain = host_name(raw.get("domain"), "the tenant's domain such as "
                                              "acme.us.auth0.com, or its custom domain")
        return {"issuer": f"https://{domain}/",
                "discovery_url": f"https://{domain}/.well-known/openid-configuration"}


class Auth0Connector(RFC7009Revocation, PresetOIDCConnector):
    strategy: ClassVar[str] = "auth0-oidc"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[Auth0Options]] = Auth0Options  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: Auth0Options

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        if not tokens.refresh_token:
            # Auth0 cannot revoke an access token; it ends at its expiry.
            return RevocationResult(True, "nothing revocable: the access token ends at expiry")
        return await super().revoke_tokens(tokens)


CONNECTOR = Auth0Connector
