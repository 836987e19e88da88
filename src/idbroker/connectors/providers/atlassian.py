"""Sign in with Atlassian (``strategy: "atlassian"``; Auth0 has no built-in Atlassian strategy):
OAuth 2.0 (3LO) authorization code grant.

Atlassian specifics (developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps, "User
Identity API"): authorize needs ``audience=api.atlassian.com`` and ``prompt=consent``; the
token endpoint takes a JSON body with the client credentials in it; ``offline_access`` in the
scopes yields a refresh token, and refresh tokens rotate (each refresh returns a new one, which
replaces the old); access tokens last an hour; ``GET https://api.atlassian.com/me`` (scope
``read:me``) gives ``account_id``, ``email``, ``email_verified``, ``name``, ``nickname``,
``picture``. No token revocation is documented (a user removes the app in their account
settings), so none is offered.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

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
from idbroker.connectors.providers.wire import bearer_token_set, object_of, send, short, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError,
    UpstreamDenied,
    UpstreamProtocolError,
    UpstreamTokenRejected,
    UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="atlassian", display_name="Atlassian", protocol="oauth2",
    default_scopes=("read:me", "offline_access"),
    offline_params={"audience": "api.atlassian.com", "prompt": "consent"},
    supports_refresh=True,
    refresh_method="refresh_token grant with `offline_access` (rotated: each refresh returns "
                   "a new refresh token)",
    supports_revocation=False, revocation_method="none documented by Atlassian",
    validation_method="me_probe",
    email_trust="`email_verified` of `GET https://api.atlassian.com/me`",
    rotates_refresh_tokens=True,
    notes=("Auth0 has no built-in Atlassian strategy; `atlassian` is idbroker's name.",),
)
ISSUER = "https://auth.atlassian.com"
AUTHORIZE_URL = "https://auth.atlassian.com/authorize"
TOKEN_URL = "https://auth.atlassian.com/oauth/token"
ME_URL = "https://api.atlassian.com/me"
_REFUSED = frozenset({"invalid_client", "unauthorized_client", "access_denied",
                      "invalid_scope", "unauthorized"})


class AtlassianOptions(ConnectorOptions):
    pass


class AtlassianConnector(ProviderConnector):
    strategy: ClassVar[str] = "atlassian"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[AtlassianOptions]] = AtlassianOptions
    options: AtlassianOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id, "response_type": "code",
            "redirect_uri": request.callback_url,
            "scope": " ".join(self.scopes(request.extra_scopes)), "state": request.state,
            # Both are required by Atlassian on every 3LO authorization request.
            **SPEC.offline_params,
        }
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        request = self.code_grant_request(callback)
        try:
            tokens = await self._token_call(request, "token")
        except UpstreamTokenRejected as exc:
            raise UpstreamDenied(detail=exc.detail) from exc
        me = await self._me(tokens.access_token or "")
        subject = me.get("account_id")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise UpstreamProtocolError(detail="profile: no account_id")
        claims = {"sub": subject, "email": me.get("email"),
                  "email_verified": me.get("email_verified") is True,
                  "name": me.get("name"), "nickname": me.get("nickname"),
                  "picture": me.get("picture"), "locale": me.get("locale"),
                  "zoneinfo": me.get("zoneinfo"), "account_type": me.get("account_type")}
        return UpstreamLogin(issuer=ISSUER, subject=subject, tokens=tokens,
                             profile=profile_from_claims({k: v for k, v in claims.items()
                                                          if v is not None}))

    async def _token_call(self, body: dict[str, str], what: str) -> TokenSet:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for atlassian")
        payload = {**body, "client_id": self.options.client_id,
                   "client_secret": self.client_secret}
        response = await send(self.http, "POST", TOKEN_URL, what=what,
                              timeout=self.policy.timeout_s, json=payload)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        answer = object_of(response, what)
        if response.status_code != 200:
            error = answer.get("error")
            if error == "invalid_grant":
                raise UpstreamTokenRejected(detail=f"{what}: invalid_grant")
            if error in _REFUSED:
                raise UpstreamDenied(detail=f"{what}: {error}")
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code} "
                                               f"error={short(error)}")
        return bearer_token_set(answer, what)

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token (no offline_access)")
        return await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")

    async def _get_me(self, token: str, what: str) -> httpx.Response:
        response = await send(self.http, "GET", ME_URL, what=what, timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"{what}: HTTP {response.status_code}")
        return response

    async def _me(self, token: str) -> dict[str, Any]:
        response = await self._get_me(token, "profile")
        if response.status_code in (401, 403):
            raise UpstreamDenied(detail=f"profile: HTTP {response.status_code}")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"profile: HTTP {response.status_code}")
        return object_of(response, "profile")

    async def validate_token(self, access_token: str) -> TokenCheck:
        # Atlassian documents no introspection: a live token reads its own account.
        response = await self._get_me(access_token, "me_probe")
        if response.status_code == 200:
            return TokenCheck(active=True, method="me_probe")
        if response.status_code == 401:
            return TokenCheck(active=False, method="me_probe")
        raise UpstreamProtocolError(detail=f"me_probe: HTTP {response.status_code}")


CONNECTOR = AtlassianConnector
