"""Okta (Auth0 ``strategy: "okta"``): an OpenID Connect preset on an Okta org.

Okta specifics (developer.okta.com/docs/reference/api/oidc, "Authorization servers",
"Revoke tokens"): the org authorization server's issuer is ``https://{domain}`` with
endpoints under ``/oauth2/v1/``; a custom authorization server's (``default`` or an
``aus...`` id) is ``https://{domain}/oauth2/{id}`` with endpoints under ``/v1/``. Discovery
at ``{issuer}/.well-known/openid-configuration`` advertises ``/revoke`` (RFC 7009; revoking a
refresh token also revokes the access tokens minted with it) and ``/introspect`` (RFC 7662).
A refresh token only with the ``offline_access`` scope (and the app's Refresh Token grant
enabled); rotation is a per-app setting.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.keycloak import PresetOIDCConnector, PresetOptions, \
    RFC7009Revocation, host_name

SPEC = ProviderSpec(
    strategy="okta", display_name="Okta", protocol="oidc",
    default_scopes=("openid", "profile", "email"),
    offline_params={"scope": "offline_access"},
    supports_refresh=True,
    refresh_method="refresh_token grant (rotated when the app enables rotation)",
    supports_revocation=True,
    revocation_method="RFC 7009 at {issuer}/v1/revoke (the refresh token takes its access tokens)",
    validation_method="introspection",
    email_trust="`email_verified` claim",
    notes=("issuer https://{domain} or https://{domain}/oauth2/{authorization_server_id}",),
)
_AS_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


class OktaOptions(PresetOptions):
    domain: str
    authorization_server_id: str | None = None
    preset: ClassVar[str] = "okta"

    @classmethod
    def endpoints(cls, raw: dict[str, Any]) -> dict[str, Any]:
        domain = host_name(raw.get("domain"), "your Okta domain such as dev-123456.okta.com")
        server = raw.get("authorization_server_id")
        if server is not None and (not isinstance(server, str) or not _AS_ID.match(server)):
            raise ValueError("options.authorization_server_id must be an authorization server "
                             "id such as 'default' or 'aus1a2b3c4d5e6f7g8h9'")
        issuer = f"https://{domain}" + (f"/oauth2/{server}" if server else "")
        return {"issuer": issuer, "discovery_url": issuer + "/.well-known/openid-configuration"}


class OktaConnector(RFC7009Revocation, PresetOIDCConnector):
    strategy: ClassVar[str] = "okta"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[OktaOptions]] = OktaOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: OktaOptions


CONNECTOR = OktaConnector
