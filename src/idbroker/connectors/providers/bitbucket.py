"""Sign in with Bitbucket Cloud (Auth0 ``strategy: "bitbucket"``): OAuth 2.0 code grant.

Bitbucket specifics (developer.atlassian.com/cloud/bitbucket/oauth-2, REST "Users"): the
OAuth consumer declares its scopes, so authorize carries no ``scope``; the token endpoint
takes the consumer key and secret as HTTP Basic and answers ``scopes`` (not ``scope``),
``expires_in`` (two hours) and a refresh token on every code grant; ``/2.0/user`` gives the
account (``account_id``, ``uuid``, ``display_name``, ``nickname``, ``links.avatar.href``) and
``/2.0/user/emails`` the addresses, each with ``is_primary`` and ``is_confirmed``. No token
revocation is documented, so none is offered. REST errors are
``{"type": "error", "error": {"message"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import field_validator

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
    body_of,
    object_of,
    send,
    short,
    transient,
)
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
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="bitbucket", display_name="Bitbucket Cloud", protocol="oauth2",
    default_scopes=(), offline_params={},
    supports_refresh=True, refresh_method="refresh_token grant (2-hour access tokens)",
    supports_revocation=False, revocation_method="none documented by Bitbucket",
    validation_method="user_probe",
    email_trust="`/2.0/user/emails` entry that is both `is_primary` and `is_confirmed`",
    notes=("Scopes are chosen on the OAuth consumer at Bitbucket, not per login.",),
)
ISSUER = "https://bitbucket.org"
AUTHORIZE_URL = "https://bitbucket.org/site/oauth2/authorize"
TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"
API = "https://api.bitbucket.org/2.0"
_REFUSED = frozenset({"invalid_client", "unauthorized_client", "access_denied",
                      "invalid_scope"})


class BitbucketOptions(ConnectorOptions):
    @field_validator("scope")
    @classmethod
    def _no_scope(cls, value: Any) -> Any:
        if value:
            raise ValueError("cannot be set for bitbucket: scopes are chosen on the OAuth "
                             "consumer at Bitbucket")
        return value


class BitbucketConnector(ProviderConnector):
    strategy: ClassVar[str] = "bitbucket"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[BitbucketOptions]] = BitbucketOptions
    options: BitbucketOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return []

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {**upstream_params(self.options, request.request_params),
                  "client_id": self.options.client_id, "response_type": "code",
                  "redirect_uri": request.callback_url, "state": request.state}
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        request = self.code_grant_request(callback)
        try:
            tokens = await self._token_call(request, "token")
        except UpstreamTokenRejected as exc:
            raise UpstreamDenied(detail=exc.detail) from exc
        token = tokens.access_token or ""
        user = await self._api_object("/user", token, "profile")
        subject = user.get("account_id")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise UpstreamProtocolError(detail="profile: no account_id")
        email, verified = await self._email(token)
        return UpstreamLogin(issuer=ISSUER, subject=subject,
                             profile=_profile(user, subject, email, verified), tokens=tokens)

    def _auth(self) -> httpx.BasicAuth:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for bitbucket")
        return httpx.BasicAuth(quote(self.options.client_id, safe=""),
                               quote(self.client_secret, safe=""))

    async def _token_call(self, data: dict[str, str], what: str) -> TokenSet:
        response = await send(self.http, "POST", TOKEN_URL, what=what,
                              timeout=self.policy.timeout_s, data=data, auth=self._auth())
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code != 200:
            error = body.get("error")
            if error == "invalid_grant":
                raise UpstreamTokenRejected(detail=f"{what}: invalid_grant")
            if error in _REFUSED:
                raise UpstreamDenied(detail=f"{what}: {error}")
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code} "
                                               f"error={short(error)}")
        return bearer_token_set(body, what, scope_key="scopes")

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        return await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")

    async def _api(self, path: str, token: str, what: str) -> httpx.Response:
        response = await send(self.http, "GET", API + path, what=what,
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"{what}: HTTP {response.status_code}")
        return response

    async def _api_object(self, path: str, token: str, what: str) -> dict[str, Any]:
        response = await self._api(path, token, what)
        if response.status_code == 401:
            raise UpstreamDenied(detail=f"{what}: HTTP 401")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        return object_of(response, what)

    async def _email(self, token: str) -> tuple[str | None, bool]:
        """The primary address, verified only when Bitbucket says it is confirmed."""
        response = await self._api("/user/emails", token, "emails")
        if response.status_code == 403:
            return None, False  # the consumer lacks the email scope
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"emails: HTTP {response.status_code}")
        body = body_of(response, "emails")
        values = body.get("values") if isinstance(body, dict) else None
        for entry in values if isinstance(values, list) else []:
            if isinstance(entry, dict) and entry.get("is_primary") is True \
                    and isinstance(entry.get("email"), str):
                return entry["email"], entry.get("is_confirmed") is True
        return None, False

    async def validate_token(self, access_token: str) -> TokenCheck:
        # Bitbucket documents no introspection: a live token reads its own account.
        response = await self._api("/user", access_token, "user_probe")
        if response.status_code == 200:
            return TokenCheck(active=True, method="user_probe")
        if response.status_code == 401:
            return TokenCheck(active=False, method="user_probe")
        raise UpstreamProtocolError(detail=f"user_probe: HTTP {response.status_code}")


def _profile(user: dict[str, Any], subject: str, email: str | None,
             verified: bool) -> UpstreamProfile:
    links = user.get("links")
    avatar = links.get("avatar") if isinstance(links, dict) else None
    claims: dict[str, Any] = {
        "sub": subject, "nickname": user.get("nickname"), "name": user.get("display_name"),
        "picture": avatar.get("href") if isinstance(avatar, dict) else None,
        "email": email, "email_verified": verified, "uuid": user.get("uuid"),
    }
    return profile_from_claims({k: v for k, v in claims.items() if v is not None})


CONNECTOR = BitbucketConnector
