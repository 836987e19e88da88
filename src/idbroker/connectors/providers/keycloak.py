"""Keycloak (generic OIDC preset ``strategy: "keycloak"``), and the small base its sibling
presets (okta, auth0-oidc, yahoo, linkedin, line) reuse.

Keycloak specifics (keycloak.org/docs/latest/securing_apps, "OpenID Connect endpoints"): a
realm is an issuer at ``{base_url}/realms/{realm}``, with discovery, RFC 7009 revocation at
``.../protocol/openid-connect/revoke`` and RFC 7662 introspection at
``.../protocol/openid-connect/token/introspect`` advertised in it. A refresh token comes
with every code exchange; ``offline_access`` makes it an offline token that outlives the
SSO session. Revoking a refresh token ends its session, and so its access tokens too.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import StrictBool, model_validator

from idbroker.connectors.oidc import OIDCConnector, OIDCOptions
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.revocation import Endpoint, RevocationResult, revoke_one, \
    preferred_auth
from idbroker.connectors.validation import TokenCheck, introspect, probe
from idbroker.errors import ConfigurationError, UpstreamError, UpstreamProtocolError
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="keycloak", display_name="Keycloak", protocol="oidc",
    default_scopes=("openid", "profile", "email"),
    offline_params={"scope": "offline_access"},
    supports_refresh=True,
    refresh_method="refresh_token grant (rotated unless the realm disables it)",
    supports_revocation=True,
    revocation_method="RFC 7009 at discovery's revocation_endpoint (ends the session)",
    validation_method="introspection",
    email_trust="`email_verified` claim (the realm's verified-email flag)",
    rotates_refresh_tokens=True,
    notes=("issuer is {base_url}/realms/{realm}",),
)
# Endpoint options a preset computes itself; an operator setting one is refused.
ENDPOINT_OPTIONS = ("discovery_url", "issuer", "authorization_endpoint", "token_endpoint",
                    "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                    "introspection_endpoint")
_REALM = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def host_name(value: Any, what: str) -> str:
    """A preset's ``domain`` option: a lower-case DNS name, no scheme, port or path."""
    if not isinstance(value, str) or not _HOST.match(value):
        raise ValueError(f"options.domain is required: {what} (a lower-case host name, "
                         "no https://)")
    return value


def base_url(value: Any, option: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"options.{option} is required (an https URL)")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query \
            or parts.fragment or parts.username:
        raise ValueError(f"options.{option} must be a URL such as https://sso.example.com")
    return value.rstrip("/")


class PresetOptions(OIDCOptions):
    """OIDC options whose endpoints a preset derives from a few provider options."""

    offline_access: StrictBool = False
    preset: ClassVar[str] = "oidc"

    @classmethod
    def endpoints(cls, raw: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @model_validator(mode="before")
    @classmethod
    def _derived_endpoints(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            given = sorted(k for k in ENDPOINT_OPTIONS if raw.get(k))
            derived = cls.endpoints(raw)
            if any(raw.get(k) != derived.get(k) for k in given):
                raise ValueError(f"{', '.join(given)} cannot be set for {cls.preset}")
            raw = {**raw, **derived}
        return raw


class PresetOIDCConnector(OIDCConnector):
    """A social OIDC preset: offline scope on demand, and a provider's own validation
    (RFC 7662 when discovery offers it, else a userinfo probe)."""

    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    options: PresetOptions
    spec: ClassVar[ProviderSpec]

    def scopes(self, extra: list[str]) -> list[str]:
        scopes = super().scopes(extra)
        offline = self.spec.offline_params.get("scope")
        if self.options.offline_access and offline:
            scopes.append(offline)
        return list(dict.fromkeys(scopes))

    async def validate_token(self, access_token: str) -> TokenCheck:
        meta = await self.metadata()
        url = meta.get("introspection_endpoint")
        if isinstance(url, str) and url:
            return await introspect(self, meta, url, access_token)
        if not meta.get("userinfo_endpoint"):
            raise ConfigurationError("the connection has no way to validate tokens")
        return await probe(self, meta["userinfo_endpoint"], access_token)


class RFC7009Revocation:
    """One RFC 7009 call: the refresh token when there is one (that ends the grant with its
    access tokens), else the access token."""

    async def revoke_tokens(self: Any, tokens: TokenSet) -> RevocationResult:
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke")
        try:
            meta = await self.metadata()
            url = meta.get("revocation_endpoint")
            if not isinstance(url, str) or not url:
                raise UpstreamProtocolError(detail="discovery: no revocation_endpoint")
            endpoint = Endpoint(self.policy.check_url(url, "revocation_endpoint"), preferred_auth(
                meta, "revocation_endpoint_auth_methods_supported",
                self.options.token_endpoint_auth_method))
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, f"revocation endpoint: {exc.detail or exc.description}")
        failed = await revoke_one(self, endpoint, kind, value)
        return failed or RevocationResult(True, "revoked", revoked=[kind])


class KeycloakOptions(PresetOptions):
    base_url: str
    realm: str
    preset: ClassVar[str] = "keycloak"

    @classmethod
    def endpoints(cls, raw: dict[str, Any]) -> dict[str, Any]:
        base = base_url(raw.get("base_url"), "base_url")
        realm = raw.get("realm")
        if not isinstance(realm, str) or not _REALM.match(realm):
            raise ValueError("options.realm is required: a realm name such as 'acme' "
                             "(letters, digits, '.', '_', '-')")
        issuer = f"{base}/realms/{realm}"
        return {"issuer": issuer, "discovery_url": issuer + "/.well-known/openid-configuration"}


class KeycloakConnector(RFC7009Revocation, PresetOIDCConnector):
    strategy: ClassVar[str] = "keycloak"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[KeycloakOptions]] = KeycloakOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: KeycloakOptions


CONNECTOR = KeycloakConnector
