"""Sign in with Figma (``strategy: "figma"``; Auth0 offers Figma only as a custom social
connection): OAuth 2 for a Figma OAuth app.

Figma specifics (developers.figma.com/docs/rest-api/oauth-apps, /authentication, "Users"
endpoint): the authorize page is ``https://www.figma.com/oauth`` (comma- or space-separated
scopes; ``current_user:read`` lets ``/v1/me`` answer); the token endpoint moved to
``https://api.figma.com/v1/oauth/token`` (the www.figma.com one was retired in February
2025) and takes the client credentials as HTTP Basic auth with a form body; it answers
``user_id_string``, ``access_token``, ``token_type``, ``expires_in`` (90 days) and
``refresh_token``; refreshing is a separate endpoint, ``/v1/oauth/refresh``, which returns a
new access token only (the refresh token is kept). Errors are ``{"error": true, "status",
"message"}`` at the OAuth endpoints and ``{"status", "err"}`` on the API. Figma documents no
revocation endpoint (a person removes the app in their account settings) and no
introspection: a token is checked by reading ``/v1/me``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from idbroker.clock import now_s
from idbroker.connectors.base import (
    ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    expires_at, upstream_params,
)
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import object_of, send, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.encoding import s256
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamProtocolError, UpstreamTokenRejected,
    UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="figma", display_name="Figma", protocol="oauth2",
    default_scopes=("current_user:read",), offline_params={},
    supports_refresh=True,
    refresh_method="POST https://api.figma.com/v1/oauth/refresh (Basic client auth); "
                   "returns a new access token, the refresh token is kept",
    supports_revocation=False,
    revocation_method="none documented: the person removes the app in Figma's settings",
    validation_method="userinfo",
    email_trust="never: Figma does not say whether the `/v1/me` email was verified",
)
ISSUER = "https://www.figma.com"
AUTHORIZE_URL = "https://www.figma.com/oauth"
API = "https://api.figma.com"
TOKEN_URL = API + "/v1/oauth/token"
REFRESH_URL = API + "/v1/oauth/refresh"


class FigmaOptions(ConnectorOptions):
    pkce: bool = True


class FigmaConnector(ProviderConnector):
    strategy: ClassVar[str] = "figma"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[FigmaOptions]] = FigmaOptions
    options: FigmaOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "scope": " ".join(self.scopes(request.extra_scopes)),
            "state": request.state,
            "response_type": "code",
        }
        if self.options.pkce:
            params.update(code_challenge=s256(request.code_verifier), code_challenge_method="S256")
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        data = self.code_grant_request(callback, ("redirect_uri", "code", "grant_type"),
                                       pkce=self.options.pkce)
        body = await self._oauth_call(TOKEN_URL, data, "token")
        tokens = _token_set(body, "token")
        me = await self._me(tokens.access_token or "")
        subject = me.get("id")
        if not isinstance(subject, str) or not subject.isdigit() or len(subject) > 64:
            raise UpstreamProtocolError(detail="profile: no numeric string id")
        if body.get("user_id_string") not in (None, subject):
            raise UpstreamProtocolError(detail="profile: not the user the token was issued to")
        profile = profile_from_claims({k: v for k, v in {
            "sub": subject, "nickname": me.get("handle"), "name": me.get("handle"),
            "email": me.get("email"), "email_verified": False,
            "picture": me.get("img_url")}.items() if isinstance(v, (str, bool))})
        return UpstreamLogin(issuer=ISSUER, subject=subject, profile=profile, tokens=tokens)

    # --- OAuth endpoints ----------------------------------------------------------------------

    def _auth(self) -> httpx.BasicAuth:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for figma")
        return httpx.BasicAuth(self.options.client_id, self.client_secret)

    async def _oauth_call(self, url: str, data: dict[str, str], what: str) -> dict[str, Any]:
        response = await send(self.http, "POST", url, what=what, data=data,
                              timeout=self.policy.timeout_s, auth=self._auth())
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code == 200 and body.get("error") is not True:
            return body
        status = response.status_code
        if status == 401 or status == 403:
            raise UpstreamDenied(detail=f"{what}: HTTP {status}")
        if status == 400:
            # {"error": true, "status": 400, "message": "Invalid code"} / "Invalid refresh
            # token": the message is the only discriminator Figma gives; a 400 on a grant
            # we hold means that grant is dead.
            raise UpstreamTokenRejected(detail=f"{what}: HTTP 400")
        raise UpstreamProtocolError(detail=f"{what}: HTTP {status}")

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        body = await self._oauth_call(REFRESH_URL, {"refresh_token": refresh_token}, "refresh")
        return _token_set(body, "refresh")

    # --- API ------------------------------------------------------------------------------------

    async def _get_me(self, token: str) -> httpx.Response:
        response = await send(self.http, "GET", API + "/v1/me", what="me",
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"me: HTTP {response.status_code}")
        return response

    async def _me(self, token: str) -> dict[str, Any]:
        response = await self._get_me(token)
        if response.status_code in (401, 403):
            raise UpstreamDenied(detail=f"profile: HTTP {response.status_code}")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"profile: HTTP {response.status_code}")
        return object_of(response, "profile")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await self._get_me(access_token)
        if response.status_code in (401, 403):  # Figma answers 403 "Invalid token"
            return TokenCheck(active=False, method="userinfo")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"me: HTTP {response.status_code}")
        return TokenCheck(active=True, method="userinfo")


def _token_set(body: dict[str, Any], what: str) -> TokenSet:
    access_token, token_type = body.get("access_token"), body.get("token_type", "bearer")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamProtocolError(detail=f"{what}: no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise UpstreamProtocolError(detail=f"{what}: token_type is not bearer")
    refresh = body.get("refresh_token")
    return TokenSet(access_token=access_token,
                    refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                    token_type="Bearer", expires_at=expires_at(body, now_s()))


CONNECTOR = FigmaConnector
