"""Sign in with Dropbox (Auth0 ``strategy: "dropbox"``): OAuth 2.0 code flow with PKCE.

Dropbox specifics (developers.dropbox.com "OAuth Guide", dropbox.tech "Using OAuth 2.0 with
offline access", HTTP API reference ``users/get_current_account``, ``auth/token/revoke``):
access tokens are short-lived (about four hours); a refresh token only with
``token_access_type=offline``, long-lived and not rotated; the token endpoint takes the client
credentials as Basic or form fields and answers RFC 6749 errors (``invalid_grant``); the
profile is an RPC call (POST, no body) answering ``account_id`` (the stable id),
``name.display_name`` and ``email_verified``; ``auth/token/revoke`` takes the access token as
bearer and disables it together with its refresh token. Dropbox documents no introspection;
``check/user`` ("validating the supplied access token") echoes a query for a live token.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from idbroker.connectors.base import UpstreamAuthorization, UpstreamCallback, UpstreamLogin
from idbroker.connectors.oauth2 import LockedOAuth2Options, OAuth2Connector
from idbroker.connectors.oidc import token_set
from idbroker.connectors.profile import is_true, profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import object_of, send, transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.upstream_http import client_auth, request_json
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamDenied, UpstreamError, UpstreamProtocolError, \
    UpstreamUnavailable
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="dropbox", display_name="Dropbox", protocol="oauth2",
    default_scopes=("account_info.read",), offline_params={"token_access_type": "offline"},
    supports_refresh=True,
    refresh_method="refresh_token grant with `token_access_type=offline` (not rotated)",
    supports_revocation=True,
    revocation_method="POST https://api.dropboxapi.com/2/auth/token/revoke (bearer; ends the "
                      "refresh token too)",
    validation_method="check_user",
    email_trust="`email_verified` of `users/get_current_account`",
)
ENDPOINTS = {
    "authorizationURL": "https://www.dropbox.com/oauth2/authorize",
    "tokenURL": "https://api.dropboxapi.com/oauth2/token",
    "profileURL": "https://api.dropboxapi.com/2/users/get_current_account",
}
REVOKE_URL = "https://api.dropboxapi.com/2/auth/token/revoke"
CHECK_URL = "https://api.dropboxapi.com/2/check/user"


class DropboxOptions(LockedOAuth2Options):
    # Dropbox's endpoints are fixed; a refresh token needs token_access_type=offline.
    locked_endpoints: ClassVar[dict[str, str]] = ENDPOINTS
    provider_name: ClassVar[str] = "dropbox"
    offline_access: bool = True


class DropboxConnector(OAuth2Connector):
    strategy: ClassVar[str] = "dropbox"
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[DropboxOptions]] = DropboxOptions  # type: ignore[assignment]
    options: DropboxOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.options.scopes(" ".join(SPEC.default_scopes)),
                                   *extra]))

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        url = await super().authorization_url(request)
        if self.options.offline_access and "token_access_type=" not in url:
            url += "&token_access_type=offline"
        return url

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        # Callback errors (access_denied: the user said no, invalid_scope, ...) are all refusals.
        data = self.code_grant_request(callback, pkce=self.options.pkce)
        auth = client_auth(self.options.token_endpoint_auth_method, self.options.client_id,
                           self.client_secret, data)
        body = await request_json(self.http, "POST", ENDPOINTS["tokenURL"], what="token",
                                  timeout=self.policy.timeout_s, data=data, auth=auth)
        tokens = token_set(body)
        account = await self._account(tokens.access_token or "")
        subject = account.get("account_id")
        if not isinstance(subject, str) or not subject.startswith("dbid:"):
            raise UpstreamProtocolError(detail="profile: no account_id")
        if isinstance(body.get("account_id"), str) and body["account_id"] != subject:
            raise UpstreamProtocolError(detail="profile: account_id differs from the token's")
        return UpstreamLogin(issuer="https://www.dropbox.com", subject=subject,
                             profile=_profile(account, subject), tokens=tokens)

    async def _account(self, token: str) -> dict[str, Any]:
        # An RPC endpoint without arguments: POST with no body and no Content-Type.
        response = await send(self.http, "POST", ENDPOINTS["profileURL"], what="profile",
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"profile: HTTP {response.status_code}")
        if response.status_code == 401:
            raise UpstreamDenied(detail="profile: HTTP 401")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"profile: HTTP {response.status_code}")
        return object_of(response, "profile")

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """One call with the access token disables it and the refresh token it came from."""
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="dropbox_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s,
                                  headers={"Authorization": f"Bearer {tokens.access_token}"})
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or "revoke failed", method="dropbox_revoke")
        status = response.status_code
        if status == 200:
            return RevocationResult(True, "revoked", method="dropbox_revoke",
                                    revoked=["access_token", "refresh_token"])
        if status == 401:
            # invalid_access_token / expired_access_token: already unusable. An expired
            # access token leaves its refresh token alive, which Dropbox gives no way to
            # revoke without a live access token; the grant then ends only at the user's
            # "Connected apps" page.
            return RevocationResult(True, "already invalid", method="dropbox_revoke")
        if transient(response):
            return RevocationResult(False, f"revoke: HTTP {status}", method="dropbox_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        return RevocationResult(False, f"revoke: HTTP {status}", method="dropbox_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        """``check/user``: Dropbox's documented call for testing a token; it echoes a query."""
        probe = secrets.token_hex(8)
        response = await send(self.http, "POST", CHECK_URL, what="check/user",
                              timeout=self.policy.timeout_s, json={"query": probe},
                              headers={"Authorization": f"Bearer {access_token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"check/user: HTTP {response.status_code}")
        if response.status_code == 401:
            return TokenCheck(active=False, method="check_user")
        if response.status_code != 200 or object_of(response, "check/user").get("result") != probe:
            raise UpstreamProtocolError(detail=f"check/user: HTTP {response.status_code}")
        return TokenCheck(active=True, method="check_user")


def _profile(account: dict[str, Any], subject: str) -> UpstreamProfile:
    name = account.get("name") if isinstance(account.get("name"), dict) else {}
    claims = {"sub": subject, "email": account.get("email"),
              "email_verified": is_true(account.get("email_verified")),
              "name": name.get("display_name"), "given_name": name.get("given_name"),
              "family_name": name.get("surname"), "nickname": name.get("familiar_name"),
              "picture": account.get("profile_photo_url"), "locale": account.get("locale")}
    return profile_from_claims({k: v for k, v in claims.items() if v is not None})


CONNECTOR = DropboxConnector
