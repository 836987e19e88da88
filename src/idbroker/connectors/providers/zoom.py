"""Sign in with Zoom (no Auth0 built-in; ``strategy: "zoom"``): OAuth 2.0 code flow of a Zoom
"General app" (user-managed), with PKCE.

Zoom specifics (developers.zoom.us: "OAuth for user authorized apps", "Using OAuth 2.0",
"OAuth error messages", "Get a user" ``GET /v2/users/me``, "Revoke an access token"): the
token and revoke endpoints on zoom.us take the client credentials as HTTP Basic only; every
grant carries a refresh token, and each refresh returns a new one (rotate: keep the newest);
access tokens last one hour; token errors are HTTP 400 ``{"reason", "error"}`` (a bad code is
``invalid_request``, a dead refresh token ``invalid_grant``); the user's ``id`` is stable;
``verified`` (1/0) says whether the email address was verified; REST errors are
``{"code": 124, "message": "Invalid access token."}`` with 401; ``/oauth/revoke`` ends the
authorization (``{"status": "success"}``). Zoom documents no introspection: a token is checked
by presenting it to ``/v2/users/me``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from idbroker.connectors.oauth2 import LockedOAuth2Options, OAuth2Connector
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import body_of, send, short, transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import ConfigurationError, UpstreamError, UpstreamProtocolError, \
    UpstreamUnavailable
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="zoom", display_name="Zoom", protocol="oauth2",
    default_scopes=("user:read:user",), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant with Basic client auth; rotated on every refresh",
    supports_revocation=True,
    revocation_method="POST https://zoom.us/oauth/revoke (Basic client auth; ends the "
                      "authorization)",
    validation_method="profile_probe",
    email_trust="`verified` = 1 in `GET /v2/users/me`",
    rotates_refresh_tokens=True,
    notes=("Scopes are also enabled on the app in the Zoom App Marketplace; classic apps use "
           "`user:read` instead of the granular `user:read:user`.",),
)
ENDPOINTS = {
    "authorizationURL": "https://zoom.us/oauth/authorize",
    "tokenURL": "https://zoom.us/oauth/token",
    "profileURL": "https://api.zoom.us/v2/users/me",
}
REVOKE_URL = "https://zoom.us/oauth/revoke"


class ZoomOptions(LockedOAuth2Options):
    # Zoom's endpoints are fixed and it authenticates clients with HTTP Basic only.
    locked_endpoints: ClassVar[dict[str, str]] = ENDPOINTS
    locked_auth_method: ClassVar[str | None] = "client_secret_basic"
    provider_name: ClassVar[str] = "zoom"


class ZoomConnector(OAuth2Connector):
    strategy: ClassVar[str] = "zoom"
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[ZoomOptions]] = ZoomOptions  # type: ignore[assignment]
    options: ZoomOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.options.scopes(" ".join(SPEC.default_scopes)),
                                   *extra]))

    def _profile(self, document: dict[str, Any], subject: str) -> UpstreamProfile:
        email = document.get("email")
        claims = {"sub": subject, "email": email,
                  # Only verified == 1 vouches for the address.
                  "email_verified": document.get("verified") == 1 and
                  not isinstance(document.get("verified"), bool),
                  "name": document.get("display_name"),
                  "given_name": document.get("first_name"),
                  "family_name": document.get("last_name"), "picture": document.get("pic_url"),
                  "locale": document.get("language"), "zoneinfo": document.get("timezone"),
                  "account_id": document.get("account_id")}
        return profile_from_claims({k: v for k, v in claims.items() if v not in (None, "")})

    def _basic(self) -> httpx.BasicAuth:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for zoom")
        return httpx.BasicAuth(self.options.client_id, self.client_secret)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Revoking the access token ends the app's authorization, refresh token included."""
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="zoom_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s, auth=self._basic(),
                                  data={"token": tokens.access_token})
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description, method="zoom_revoke")
        status = response.status_code
        body = body_of(response, "revoke")
        if status == 200 and isinstance(body, dict) and body.get("status") == "success":
            return RevocationResult(True, "revoked", method="zoom_revoke",
                                    revoked=["access_token", "refresh_token"])
        if transient(response):
            return RevocationResult(False, f"revoke: HTTP {status}", method="zoom_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        error = body.get("error") if isinstance(body, dict) else None
        if status == 400 and error in ("invalid_token", "invalid_grant"):
            return RevocationResult(True, "already invalid", method="zoom_revoke")
        return RevocationResult(False, f"revoke: HTTP {status} error={short(error)}",
                                method="zoom_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await send(self.http, "GET", ENDPOINTS["profileURL"], what="validation",
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {access_token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"validation: HTTP {response.status_code}")
        if response.status_code == 401:
            return TokenCheck(active=False, method="profile_probe")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"validation: HTTP {response.status_code}")
        return TokenCheck(active=True, method="profile_probe")


CONNECTOR = ZoomConnector
