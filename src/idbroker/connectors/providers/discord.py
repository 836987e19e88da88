"""Sign in with Discord (``strategy: "discord"``; Auth0 has no built-in Discord strategy, so
the provider's own name is used): OAuth 2.0 authorization code grant.

Discord specifics (discord.com/developers/docs/topics/oauth2): the token endpoint takes the
client credentials as HTTP Basic or in the form body and answers RFC 6749 errors
(``invalid_grant``, ``invalid_client``); every code grant returns a refresh token, and each
refresh returns a new one; ``POST /api/oauth2/token/revoke`` is RFC 7009 and revoking one
token of an authorization ends it; ``GET /api/users/@me`` needs the ``identify`` scope, its
``email`` needs ``email`` and ``verified`` says whether that address was verified;
``GET /api/oauth2/@me`` describes the current authorization; REST errors are
``{"message", "code"}``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode

import httpx

from idbroker.connectors.base import (
    ConnectorOptions,
    UpstreamAuthorization,
    UpstreamCallback,
    UpstreamLogin,
    upstream_params,
)
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import (
    bearer_token_set,
    object_of,
    scope_list,
    send,
    short,
    transient,
)
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError,
    UpstreamDenied,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTokenRejected,
    UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="discord", display_name="Discord", protocol="oauth2",
    default_scopes=("identify", "email"), offline_params={},
    supports_refresh=True, refresh_method="refresh_token grant (a new refresh token each time)",
    supports_revocation=True,
    revocation_method="POST https://discord.com/api/oauth2/token/revoke (RFC 7009)",
    validation_method="oauth2_me",
    email_trust="`verified` of `/users/@me`",
    rotates_refresh_tokens=True,
    notes=("Auth0 has no built-in Discord strategy; `discord` is idbroker's name.",),
)
ISSUER = "https://discord.com"
AUTHORIZE_URL = "https://discord.com/oauth2/authorize"
API = "https://discord.com/api"
TOKEN_URL = API + "/oauth2/token"
REVOKE_URL = API + "/oauth2/token/revoke"
CDN = "https://cdn.discordapp.com"
_AVATAR = re.compile(r"^(a_)?[0-9a-f]{32}$")


class DiscordOptions(ConnectorOptions):
    # Discord accepts both; Basic keeps the secret out of the form body.
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = \
        "client_secret_basic"


class DiscordConnector(ProviderConnector):
    strategy: ClassVar[str] = "discord"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[DiscordOptions]] = DiscordOptions
    options: DiscordOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "response_type": "code",
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "scope": " ".join(self.scopes(request.extra_scopes)),
            "state": request.state,
        }
        if request.request_params.get("prompt") in ("login", "consent"):
            # Discord's prompt knows only consent and none; consent shows the screen again.
            params["prompt"] = "consent"
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        tokens = await self._token_call(self.code_grant_request(callback), "token")
        user = await self._api_object("/users/@me", tokens.access_token or "", "profile")
        subject = user.get("id")
        if not isinstance(subject, str) or not subject.isdigit():
            raise UpstreamProtocolError(detail="profile: id is not a snowflake")
        return UpstreamLogin(issuer=ISSUER, subject=subject, profile=_profile(user),
                             tokens=tokens)

    def _client(self, data: dict[str, str]) -> httpx.BasicAuth | None:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for discord")
        if self.options.token_endpoint_auth_method == "client_secret_post":
            data.update(client_id=self.options.client_id, client_secret=self.client_secret)
            return None
        return httpx.BasicAuth(quote(self.options.client_id, safe=""),
                               quote(self.client_secret, safe=""))

    async def _token_call(self, data: dict[str, str], what: str) -> TokenSet:
        auth = self._client(data)
        response = await send(self.http, "POST", TOKEN_URL, what=what,
                              timeout=self.policy.timeout_s, data=data, auth=auth)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code != 200:
            error = body.get("error")
            if error == "invalid_grant":
                raise UpstreamTokenRejected(detail=f"{what}: invalid_grant")
            if error in ("invalid_client", "unauthorized_client", "access_denied",
                         "invalid_scope"):
                raise UpstreamDenied(detail=f"{what}: {error}")
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code} "
                                               f"error={short(error)}")
        return bearer_token_set(body, what)

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        return await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")

    async def _api_object(self, path: str, token: str, what: str) -> dict[str, Any]:
        response = await send(self.http, "GET", API + path, what=what,
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"{what}: HTTP {response.status_code}")
        if response.status_code == 401:
            raise UpstreamDenied(detail=f"{what}: HTTP 401")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        return object_of(response, what)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """One call: revoking either token of an authorization ends the authorization."""
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke", method="rfc7009")
        data = {"token": value, "token_type_hint": kind}
        try:
            auth = self._client(data)
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s, data=data, auth=auth)
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description, method="rfc7009")
        if response.status_code == 200:
            return RevocationResult(True, "revoked", method="rfc7009",
                                    revoked=["access_token", "refresh_token"])
        if transient(response):
            return RevocationResult(False, f"{kind}: HTTP {response.status_code}",
                                    method="rfc7009",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        return RevocationResult(False, f"{kind}: HTTP {response.status_code}", method="rfc7009")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await send(self.http, "GET", API + "/oauth2/@me", what="oauth2_me",
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {access_token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"oauth2_me: HTTP {response.status_code}")
        if response.status_code == 401:
            return TokenCheck(active=False, method="oauth2_me")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"oauth2_me: HTTP {response.status_code}")
        body = object_of(response, "oauth2_me")
        application = body.get("application")
        if not isinstance(application, dict) or application.get("id") != self.options.client_id:
            raise UpstreamProtocolError(detail="oauth2_me: token of another application")
        return TokenCheck(active=True, method="oauth2_me",
                          scope=" ".join(scope_list(body.get("scopes"))) or None)


def _profile(user: dict[str, Any]) -> UpstreamProfile:
    avatar = user.get("avatar")
    claims: dict[str, Any] = {
        "sub": user["id"], "nickname": user.get("username"),
        "name": user.get("global_name") or user.get("username"),
        # An avatar is a hash ("a_" prefix when animated) on the CDN, not a URL.
        "picture": f"{CDN}/avatars/{user['id']}/{avatar}.png"
        if isinstance(avatar, str) and _AVATAR.match(avatar) else None,
        "email": user.get("email"), "email_verified": user.get("verified") is True,
        "locale": user.get("locale"), "mfa_enabled": user.get("mfa_enabled"),
    }
    return profile_from_claims({k: v for k, v in claims.items() if v is not None})


CONNECTOR = DiscordConnector
