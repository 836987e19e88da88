"""Log in with Spotify (no Auth0 built-in; ``strategy: "spotify"``): OAuth 2.0 authorization
code flow, with PKCE.

Spotify specifics (developer.spotify.com: "Authorization Code Flow", "Authorization Code
with PKCE Flow", "Refreshing tokens", Web API "Get Current User's Profile", "Scopes"): the
token endpoint ``/api/token`` takes the client credentials as HTTP Basic; every grant
carries a refresh token; a refresh MAY return a new refresh token or none (then the old one
stays valid), so the newest one received is kept; access tokens last one hour; token errors
are RFC 6749 bodies (``invalid_grant``, ``invalid_client``); ``/v1/me`` answers the user's
``id`` (stable), ``display_name``, ``images`` and, with ``user-read-email``, an ``email``
Spotify itself calls unverified. Spotify documents no revocation endpoint (a user removes an
app at spotify.com/account/apps) and no introspection: a token is checked by reading
``/v1/me`` with it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from idbroker.connectors.base import UpstreamAuthorization
from idbroker.connectors.oauth2 import LockedOAuth2Options, OAuth2Connector
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import send, transient
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamProtocolError, UpstreamUnavailable
from idbroker.vault.records import UpstreamProfile

SPEC = ProviderSpec(
    strategy="spotify", display_name="Spotify", protocol="oauth2",
    default_scopes=("user-read-email", "user-read-private"), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant with Basic client auth; a new refresh token may or "
                   "may not be returned (kept when it is)",
    supports_revocation=False,
    revocation_method="none documented: the user removes the app at spotify.com/account/apps",
    validation_method="profile_probe",
    email_trust="never: Spotify documents the `email` of `/v1/me` as unverified",
    rotates_refresh_tokens=True,
)
ENDPOINTS = {
    "authorizationURL": "https://accounts.spotify.com/authorize",
    "tokenURL": "https://accounts.spotify.com/api/token",
    "profileURL": "https://api.spotify.com/v1/me",
}


class SpotifyOptions(LockedOAuth2Options):
    # Spotify's endpoints are fixed; its token endpoint wants Basic client authentication.
    locked_endpoints: ClassVar[dict[str, str]] = ENDPOINTS
    locked_auth_method: ClassVar[str | None] = "client_secret_basic"
    provider_name: ClassVar[str] = "spotify"
    show_dialog: bool = False  # ask the user to approve again even if already approved


class SpotifyConnector(OAuth2Connector):
    strategy: ClassVar[str] = "spotify"
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[SpotifyOptions]] = SpotifyOptions  # type: ignore[assignment]
    options: SpotifyOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.options.scopes(" ".join(SPEC.default_scopes)),
                                   *extra]))

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        url = await super().authorization_url(request)
        if self.options.show_dialog or request.request_params.get("prompt") == "login":
            url += "&show_dialog=true"
        return url

    def _profile(self, document: dict[str, Any], subject: str) -> UpstreamProfile:
        images = document.get("images")
        picture = None
        if isinstance(images, list) and images and isinstance(images[0], dict):
            picture = images[0].get("url")
        claims = {"sub": subject, "email": document.get("email"),
                  "email_verified": False,  # Spotify: "This email address is unverified"
                  "name": document.get("display_name"), "nickname": document.get("id"),
                  "picture": picture, "country": document.get("country"),
                  "product": document.get("product")}
        return profile_from_claims({k: v for k, v in claims.items() if v is not None})

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


CONNECTOR = SpotifyConnector
