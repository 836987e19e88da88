"""Sign in with Yahoo (Auth0 ``strategy: "yahoo"``): an OpenID Connect preset on
``https://api.login.yahoo.com``.

Yahoo specifics (developer.yahoo.com/oauth2/guide/openid_connect): fixed endpoints
(``/oauth2/request_auth``, ``/oauth2/get_token``, ``/openid/v1/userinfo``,
``/openid/v1/certs``); every code exchange returns a refresh token, which a refresh does not
replace; ID tokens are signed ES256. Yahoo documents no revocation and no introspection
endpoint: a token is checked by presenting it to userinfo.
"""

from __future__ import annotations

from typing import Any, ClassVar

from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.keycloak import PresetOIDCConnector, PresetOptions

SPEC = ProviderSpec(
    strategy="yahoo", display_name="Yahoo", protocol="oidc",
    default_scopes=("openid", "profile", "email"),
    offline_params={},
    supports_refresh=True, refresh_method="refresh_token grant (not rotated)",
    supports_revocation=False,
    revocation_method="none documented (the user removes the app at login.yahoo.com)",
    validation_method="userinfo",
    email_trust="`email_verified` claim",
)
ISSUER = "https://api.login.yahoo.com"
ENDPOINTS = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/oauth2/request_auth",
    "token_endpoint": f"{ISSUER}/oauth2/get_token",
    "userinfo_endpoint": f"{ISSUER}/openid/v1/userinfo",
    "jwks_uri": f"{ISSUER}/openid/v1/certs",
}


class YahooOptions(PresetOptions):
    preset: ClassVar[str] = "yahoo"
    id_token_signed_response_algs: list[str] = ["ES256"]

    @classmethod
    def endpoints(cls, raw: dict[str, Any]) -> dict[str, Any]:
        return dict(ENDPOINTS)


class YahooConnector(PresetOIDCConnector):
    strategy: ClassVar[str] = "yahoo"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[YahooOptions]] = YahooOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: YahooOptions


CONNECTOR = YahooConnector
