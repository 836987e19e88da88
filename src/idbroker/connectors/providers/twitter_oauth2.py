"""Sign in with X (Twitter) over OAuth 2.0 (``strategy: "twitter-oauth2"``; Auth0's own
``twitter`` strategy is OAuth 1.0a: providers/twitter.py).

X specifics (docs.x.com, "OAuth 2.0 Authorization Code Flow with PKCE", "How to connect to
endpoints using OAuth 2.0", "GET /2/users/me"): PKCE is mandatory; a confidential client
authenticates with HTTP Basic at the token and revoke endpoints; a refresh token comes only
with the ``offline.access`` scope and is rotated on every use; token endpoint errors are
HTTP 400 ``invalid_request`` (also for a dead code or refresh token); the profile is
``{"data": {...}}`` from ``/2/users/me`` and carries no email.
"""

from __future__ import annotations

from typing import ClassVar
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
    body_of,
    object_of,
    send,
    short,
    transient,
)
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.encoding import s256
from idbroker.errors import (
    ConfigurationError,
    UpstreamDenied,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTokenRejected,
    UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="twitter-oauth2", display_name="X (Twitter) OAuth 2.0", protocol="oauth2",
    default_scopes=("tweet.read", "users.read", "offline.access"), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant, only with the `offline.access` scope (rotated)",
    supports_revocation=True,
    revocation_method="POST https://api.twitter.com/2/oauth2/revoke (the refresh token)",
    validation_method="users_me",
    email_trust="never: X's OAuth 2.0 profile carries no email",
    rotates_refresh_tokens=True,
)
ISSUER = "https://twitter.com"
AUTHORIZE_URL = "https://twitter.com/i/oauth2/authorize"
TOKEN_URL = "https://api.twitter.com/2/oauth2/token"
REVOKE_URL = "https://api.twitter.com/2/oauth2/revoke"
ME_URL = "https://api.twitter.com/2/users/me"
USER_FIELDS = "profile_image_url,verified,description,location,url"


class TwitterOAuth2Options(ConnectorOptions):
    pass


class TwitterOAuth2Connector(ProviderConnector):
    strategy: ClassVar[str] = "twitter-oauth2"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[TwitterOAuth2Options]] = TwitterOAuth2Options
    options: TwitterOAuth2Options

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "response_type": "code",
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "scope": " ".join(self.scopes(request.extra_scopes)),
            "state": request.state,
            "code_challenge": s256(request.code_verifier),
            "code_challenge_method": "S256",
        }
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        # PKCE is required by X, whatever the client.
        tokens = await self._token_call(self.code_grant_request(callback, pkce=True), "token")
        response = await self._me(tokens.access_token or "")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"profile: HTTP {response.status_code}")
        data = object_of(response, "profile").get("data")
        subject = data.get("id") if isinstance(data, dict) else None
        if not isinstance(subject, str) or not subject.isdigit() or len(subject) > 32:
            raise UpstreamProtocolError(detail="profile: data.id is not a numeric string")
        assert isinstance(data, dict)
        claims = {"sub": subject, "name": data.get("name"), "nickname": data.get("username"),
                  "preferred_username": data.get("username"),
                  "picture": data.get("profile_image_url")}
        claims.update({k: data[k] for k in ("description", "location", "url", "verified")
                       if isinstance(data.get(k), (str, bool)) and data[k] != ""})
        return UpstreamLogin(issuer=ISSUER, subject=subject, tokens=tokens,
                             profile=profile_from_claims({k: v for k, v in claims.items()
                                                          if v is not None}))

    # --- token endpoint ---------------------------------------------------------------------

    def _auth(self, data: dict[str, str]) -> httpx.BasicAuth | None:
        if not self.client_secret:
            # A public client (no secret) names itself in the body instead.
            data["client_id"] = self.options.client_id
            return None
        return httpx.BasicAuth(quote(self.options.client_id, safe=""),
                               quote(self.client_secret, safe=""))

    async def _token_call(self, data: dict[str, str], what: str) -> TokenSet:
        auth = self._auth(data)
        response = await send(self.http, "POST", TOKEN_URL, what=what,
                              timeout=self.policy.timeout_s, data=data, auth=auth)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code == 400 and body.get("error") in ("invalid_request",
                                                                 "invalid_grant"):
            # X says invalid_request for a dead code or refresh token alike.
            raise UpstreamTokenRejected(detail=f"{what}: {body['error']}")
        if response.status_code in (400, 401) and body.get("error") in ("invalid_client",
                                                                        "unauthorized_client"):
            raise UpstreamDenied(detail=f"{what}: {body['error']}")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code} "
                                               f"error={short(body.get('error'))}")
        return bearer_token_set(body, what)

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token (no offline.access)")
        return await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")

    # --- API, revocation, validation --------------------------------------------------------

    async def _me(self, token: str, *, fields: bool = True) -> httpx.Response:
        response = await send(self.http, "GET", ME_URL, what="profile",
                              timeout=self.policy.timeout_s,
                              params={"user.fields": USER_FIELDS} if fields else None,
                              headers={"Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"profile: HTTP {response.status_code}")
        return response

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """One call: the refresh token when there is one (RFC 7009 §2.1: its access tokens
        go with it), else the access token."""
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke", method="x_revoke")
        data = {"token": value, "token_type_hint": kind}
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s, data=data, auth=self._auth(data))
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description, method="x_revoke")
        if transient(response):
            return RevocationResult(False, f"{kind}: HTTP {response.status_code}",
                                    method="x_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        body = body_of(response, "revoke")
        if response.status_code == 200 and isinstance(body, dict) and body.get("revoked") is True:
            return RevocationResult(True, "revoked", method="x_revoke", revoked=[kind])
        error = body.get("error") if isinstance(body, dict) else None
        return RevocationResult(False, f"{kind}: HTTP {response.status_code} error={short(error)}",
                                method="x_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await self._me(access_token, fields=False)
        if response.status_code == 200:
            return TokenCheck(active=True, method="users_me")
        if response.status_code == 401:
            # 403 means the app or project may not call this endpoint: not the token's fault.
            return TokenCheck(active=False, method="users_me")
        raise UpstreamProtocolError(detail=f"users/me: HTTP {response.status_code}")


CONNECTOR = TwitterOAuth2Connector
