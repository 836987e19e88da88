"""Microsoft Entra ID (Auth0 ``strategy: "waad"``): an OpenID Connect preset on the Microsoft
identity platform v2.0 for work and school accounts.

The quirk handled here: a multi-tenant app (``tenant`` = ``organizations`` or ``common``)
receives ID tokens whose ``iss`` names the user's own tenant,
``https://login.microsoftonline.com/{tid}/v2.0``, while discovery documents the template
``…/{tenantid}/v2.0``. Each ID token's ``iss`` must therefore equal the issuer built from its
own signed ``tid`` claim, and ``tid`` must be one of ``allowed_tenants`` when that is set
(learn.microsoft.com/entra/identity-platform/access-tokens "Validate the issuer"). A token
whose ``iss`` names another tenant than its ``tid`` is refused. Refresh, email trust,
validation and the lack of revocation are as for ``windowslive`` (see that module).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, ClassVar, Literal

from pydantic import field_validator, model_validator

from idbroker.connectors.base import UpstreamCallback, UpstreamLogin
from idbroker.connectors.oidc import OIDCConnector, OIDCOptions, token_set
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.windowslive import (
    LOGIN, email_trust, endpoints, graph_me_check, issuer_of, pin_endpoints,
)
from idbroker.connectors.refresh import post_token_request
from idbroker.connectors.upstream_http import client_auth
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamDenied, UpstreamProtocolError, UpstreamTokenRejected
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="waad", display_name="Microsoft Entra ID", protocol="oidc",
    default_scopes=("openid", "profile", "email", "offline_access", "User.Read"),
    offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant; needs the `offline_access` scope; rotated",
    supports_revocation=False,
    revocation_method="none: Microsoft documents no RFC 7009 endpoint",
    validation_method="graph_me",
    email_trust="only with the optional ID token claim `xms_edov: true`",
    rotates_refresh_tokens=True,
    notes=("multi-tenant: `iss` must be the issuer of the token's own `tid`",),
)
MULTI_TENANT = ("organizations", "common")
TEMPLATE_ISSUER = f"{LOGIN}/{{tenantid}}/v2.0"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class WaadOptions(OIDCOptions):
    tenant: str
    allowed_tenants: list[str] = []
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @model_validator(mode="before")
    @classmethod
    def _fixed_endpoints(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not isinstance(raw.get("tenant"), str):
            return raw  # the field validators report the missing or wrong tenant
        tenant = raw["tenant"]
        issuer = issuer_of(tenant) if _GUID.match(tenant) else TEMPLATE_ISSUER
        return pin_endpoints(raw, "waad", endpoints(tenant, issuer))

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if value == "consumers":
            raise ValueError("personal Microsoft accounts use the windowslive strategy")
        if value in MULTI_TENANT or _GUID.match(value) or _DOMAIN.match(value):
            return value
        raise ValueError("must be a tenant id (a lower-case GUID), a verified domain such as "
                         "contoso.onmicrosoft.com, 'organizations' or 'common'")

    @field_validator("allowed_tenants", mode="before")
    @classmethod
    def _allowed(cls, value: Any) -> Any:
        if not isinstance(value, list) or len(value) > 500:
            raise ValueError("must be a list of at most 500 tenant ids")
        for item in value:
            if not isinstance(item, str) or not _GUID.match(item):
                raise ValueError(f"{str(item)[:80]!r} is not a tenant id (a lower-case GUID)")
        return value

    @model_validator(mode="after")
    def _tenant_rules(self) -> WaadOptions:
        if _GUID.match(self.tenant) and set(self.allowed_tenants) - {self.tenant}:
            raise ValueError("allowed_tenants must not name other tenants than a single "
                             "tenant id given as tenant")
        if _DOMAIN.match(self.tenant) and not self.allowed_tenants:
            raise ValueError("a domain tenant needs allowed_tenants: its tenant id")
        return self

    def accepted_tenants(self) -> set[str]:
        """Empty: any tenant (a multi-tenant app open to every organization)."""
        if _GUID.match(self.tenant):
            return {self.tenant}
        return set(self.allowed_tenants)


def _unverified_tid(token: str) -> Any:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, IndexError, UnicodeDecodeError, RecursionError) as exc:
        raise UpstreamProtocolError(detail="id_token: not a compact JWS") from exc
    return claims.get("tid") if isinstance(claims, dict) else None


class WaadConnector(OIDCConnector):
    strategy: ClassVar[str] = "waad"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[WaadOptions]] = WaadOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: WaadOptions

    async def verify_id_token(self, token: str, meta: dict[str, Any],
                              nonce: str) -> dict[str, Any]:
        tid = _unverified_tid(token)
        if not isinstance(tid, str) or not _GUID.match(tid):
            raise UpstreamProtocolError(detail="id_token: tid missing or malformed")
        accepted = self.options.accepted_tenants()
        if accepted and tid not in accepted:
            raise UpstreamDenied(detail="id_token: tenant not allowed")
        # The signature is checked before the iss/tid pair is trusted; both are signed.
        claims = await super().verify_id_token(token, {**meta, "issuer": issuer_of(tid)}, nonce)
        if claims.get("tid") != tid:
            raise UpstreamProtocolError(detail="id_token: tid mismatch")
        return email_trust(claims)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        login = await super().complete(callback)
        tid = login.profile.extra.get("tid")
        if isinstance(tid, str):
            login.issuer = issuer_of(tid)  # the user's tenant, not the discovery template
        return login

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        """The generic refresh would compare a refreshed ID token's ``iss`` with the template
        issuer; here the refreshed ID token is not kept (the login's one stays), so nothing
        unchecked is stored."""
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        meta = await self.metadata()
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        auth = client_auth(self._auth_method(meta), self.options.client_id, self.client_secret,
                           data)
        tokens = token_set(await post_token_request(self.http, meta["token_endpoint"], data,
                                                    auth, timeout))
        tokens.id_token = None
        return tokens

    async def validate_token(self, access_token: str) -> TokenCheck:
        return await graph_me_check(self, access_token)


CONNECTOR = WaadConnector
