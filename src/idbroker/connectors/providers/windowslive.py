"""Microsoft personal accounts (Auth0 ``strategy: "windowslive"``): an OpenID Connect preset on
the Microsoft identity platform v2.0, ``consumers`` tenant. Also home of what ``waad`` shares.

Microsoft specifics (learn.microsoft.com/entra/identity-platform: "OAuth 2.0 authorization
code flow", "ID token claims reference", "Refresh tokens"): a refresh token only when the
``offline_access`` scope is granted; refresh tokens rotate (each refresh answers a new one,
which replaces the old); errors are ``{"error", "error_description": "AADSTS…",
"error_codes": [...], "trace_id", "correlation_id", "timestamp"}``. The ``email`` claim is
mutable and not verified by Microsoft: it is marked verified only with the optional claim
``xms_edov: true`` (the email domain owner is verified). Microsoft offers no RFC 7009
revocation endpoint (revoking sign-in sessions is a Graph admin operation): none here.
Validation is a Microsoft Graph ``GET /v1.0/me`` probe with the access token.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_validator

from idbroker.connectors.oidc import OIDCConnector, OIDCOptions
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import send, transient
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamProtocolError, UpstreamUnavailable

SPEC = ProviderSpec(
    strategy="windowslive", display_name="Microsoft personal account", protocol="oidc",
    default_scopes=("openid", "profile", "email", "offline_access", "User.Read"),
    offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant; needs the `offline_access` scope; rotated",
    supports_revocation=False,
    revocation_method="none: Microsoft documents no RFC 7009 endpoint",
    validation_method="graph_me",
    email_trust="only with the optional ID token claim `xms_edov: true`",
    rotates_refresh_tokens=True,
)
LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com"
GRAPH_ME = f"{GRAPH}/v1.0/me"
# The tenant id of Microsoft personal accounts: the issuer of every consumers ID token.
CONSUMERS_TID = "9188040d-6c67-4c5b-b112-36a304b66dad"
_ENDPOINT_OPTIONS = ("discovery_url", "issuer", "authorization_endpoint", "token_endpoint",
                     "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                     "introspection_endpoint")


def issuer_of(tid: str) -> str:
    return f"{LOGIN}/{tid}/v2.0"


def endpoints(tenant: str, issuer: str) -> dict[str, str]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{LOGIN}/{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{LOGIN}/{tenant}/oauth2/v2.0/token",
        "jwks_uri": f"{LOGIN}/{tenant}/discovery/v2.0/keys",
        "userinfo_endpoint": f"{GRAPH}/oidc/userinfo",
    }


def pin_endpoints(raw: Any, strategy: str, fixed: dict[str, str]) -> Any:
    """Microsoft's endpoints follow from the tenant; an operator may not point them elsewhere."""
    if not isinstance(raw, dict):
        return raw
    given = sorted(k for k in _ENDPOINT_OPTIONS if raw.get(k))
    if any(raw.get(k) != fixed.get(k) for k in given):
        raise ValueError(f"{', '.join(given)} cannot be set for {strategy}")
    return {**raw, **fixed}


def email_trust(claims: dict[str, Any]) -> dict[str, Any]:
    # Only Microsoft's own statement about the email domain counts; nothing else is trusted.
    return {**claims, "email_verified": claims.get("xms_edov") in (True, "true", 1, "1")}


async def graph_me_check(connector: Any, access_token: str) -> TokenCheck:
    response = await send(connector.http, "GET", GRAPH_ME, what="graph me",
                          timeout=connector.policy.timeout_s,
                          headers={"Authorization": f"Bearer {access_token}"})
    if transient(response):
        raise UpstreamUnavailable(detail=f"graph me: HTTP {response.status_code}")
    if response.status_code == 200:
        return TokenCheck(active=True, method="graph_me")
    if response.status_code == 401:
        return TokenCheck(active=False, method="graph_me")
    # 403 Authorization_RequestDenied: a live token without User.Read; not a verdict.
    raise UpstreamProtocolError(detail=f"graph me: HTTP {response.status_code}")


class WindowsLiveOptions(OIDCOptions):
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @model_validator(mode="before")
    @classmethod
    def _fixed_endpoints(cls, raw: Any) -> Any:
        return pin_endpoints(raw, "windowslive", endpoints("consumers", issuer_of(CONSUMERS_TID)))


class WindowsLiveConnector(OIDCConnector):
    strategy: ClassVar[str] = "windowslive"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[WindowsLiveOptions]] = WindowsLiveOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)

    async def verify_id_token(self, token: str, meta: dict[str, Any],
                              nonce: str) -> dict[str, Any]:
        claims = await super().verify_id_token(token, meta, nonce)
        if claims.get("tid") != CONSUMERS_TID:
            raise UpstreamProtocolError(detail="id_token: not a personal account")
        return email_trust(claims)

    async def validate_token(self, access_token: str) -> TokenCheck:
        return await graph_me_check(self, access_token)


CONNECTOR = WindowsLiveConnector
