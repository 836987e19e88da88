"""Sign In with LinkedIn using OpenID Connect (Auth0 ``strategy: "linkedin"``).

LinkedIn specifics (learn.microsoft.com/linkedin/consumer/integrations/self-serve/
sign-in-with-linkedin-v2, shared/authentication/authorization-code-flow,
token-introspection, programmatic-refresh-tokens): issuer ``https://www.linkedin.com/oauth``;
the client authenticates with ``client_id``/``client_secret`` in the form body only;
userinfo at ``https://api.linkedin.com/v2/userinfo`` (``locale`` is an object); access
tokens live 60 days; refresh tokens (365 days, not rotated) only for apps LinkedIn approved
for programmatic refresh; validation by ``POST /oauth/v2/introspectToken`` (credentials in the
body, ``scope`` comma-separated). LinkedIn's API docs describe no revocation endpoint for
these tokens.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.keycloak import PresetOIDCConnector, PresetOptions
from idbroker.connectors.providers.wire import object_of, send, transient
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamProtocolError, UpstreamUnavailable

SPEC = ProviderSpec(
    strategy="linkedin", display_name="LinkedIn", protocol="oidc",
    default_scopes=("openid", "profile", "email"),
    offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant, only for apps approved for programmatic refresh",
    supports_revocation=False,
    revocation_method="none documented (the member removes the app in LinkedIn's settings)",
    validation_method="introspectToken",
    email_trust="`email_verified` claim",
    notes=("refresh tokens only for LinkedIn-approved partners",),
)
ISSUER = "https://www.linkedin.com/oauth"
ENDPOINTS = {
    "issuer": ISSUER,
    "authorization_endpoint": "https://www.linkedin.com/oauth/v2/authorization",
    "token_endpoint": "https://www.linkedin.com/oauth/v2/accessToken",
    "userinfo_endpoint": "https://api.linkedin.com/v2/userinfo",
    "jwks_uri": "https://www.linkedin.com/oauth/openid/jwks",
}
INTROSPECT_URL = "https://www.linkedin.com/oauth/v2/introspectToken"


class LinkedInOptions(PresetOptions):
    preset: ClassVar[str] = "linkedin"
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @classmethod
    def endpoints(cls, raw: dict[str, Any]) -> dict[str, Any]:
        return dict(ENDPOINTS)


class LinkedInConnector(PresetOIDCConnector):
    strategy: ClassVar[str] = "linkedin"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[LinkedInOptions]] = LinkedInOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: LinkedInOptions

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await send(self.http, "POST", INTROSPECT_URL, what="introspectToken",
                              timeout=self.policy.timeout_s, data={
                                  "client_id": self.options.client_id,
                                  "client_secret": self.client_secret or "",
                                  "token": access_token})
        if transient(response):
            raise UpstreamUnavailable(detail=f"introspectToken: HTTP {response.status_code}")
        body = object_of(response, "introspectToken")
        if response.status_code != 200 or not isinstance(body.get("active"), bool):
            raise UpstreamProtocolError(detail=f"introspectToken: HTTP {response.status_code}")
        if not body["active"]:
            return TokenCheck(active=False, method="introspectToken")
        if body.get("client_id") not in (None, self.options.client_id):
            raise UpstreamProtocolError(detail="introspectToken: client_id is another app")
        scope, exp = body.get("scope"), body.get("expires_at")
        return TokenCheck(
            active=True, method="introspectToken",
            scope=scope.replace(",", " ") if isinstance(scope, str) else None,
            exp=exp if isinstance(exp, int) and not isinstance(exp, bool) else None)


CONNECTOR = LinkedInConnector
