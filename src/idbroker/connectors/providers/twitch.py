"""Log in with Twitch (no Auth0 built-in; ``strategy: "twitch"``): OAuth 2.0 authorization
code grant flow, with the Helix Users API for the profile.

Twitch specifics (dev.twitch.tv: "Getting OAuth Access Tokens" (authorization code grant
flow), "Validating Tokens", "Refreshing Access Tokens", "Revoking Access Tokens", Helix
reference "Get Users"): the id.twitch.tv token endpoint takes the client credentials as form
fields and answers errors in Twitch's own shape, ``{"status": 400, "message": ...}`` (no
``error`` code), so they are told apart by status and endpoint; ``scope`` in a token
response is a JSON array; every grant carries a refresh token, and a refresh may return a
new one (the newest is kept); Helix needs the ``Client-Id`` header next to the bearer token
and answers ``{"data": [user]}``, whose ``email`` (``user:read:email``) Twitch does not
say is verified; ``/oauth2/validate`` (``Authorization: OAuth <token>``) must be used to
check tokens, and answers 401 for a dead one; ``/oauth2/revoke`` takes ``client_id`` and the
access token, and ends the authorization.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from idbroker.clock import now_s
from idbroker.connectors.base import UpstreamAuthorization, UpstreamCallback, UpstreamLogin, \
    expires_at
from idbroker.connectors.oauth2 import OAuth2Connector, OAuth2Options
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import object_of, scope_list, send, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import ConfigurationError, UpstreamDenied, UpstreamError, \
    UpstreamProtocolError, UpstreamTokenRejected, UpstreamUnavailable
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="twitch", display_name="Twitch", protocol="oauth2",
    default_scopes=("user:read:email",), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant (form client credentials); a new refresh token may "
                   "be returned and is kept",
    supports_revocation=True,
    revocation_method="POST https://id.twitch.tv/oauth2/revoke (client_id + access token)",
    validation_method="twitch_validate",
    email_trust="never: Helix `email` carries no verification flag",
    rotates_refresh_tokens=True,
    notes=("Twitch asks apps to validate tokens at start-up and hourly; idbroker validates "
           "on request (`GET .../tokens/validation`).",),
)
ENDPOINTS = {
    "authorizationURL": "https://id.twitch.tv/oauth2/authorize",
    "tokenURL": "https://id.twitch.tv/oauth2/token",
    "profileURL": "https://api.twitch.tv/helix/users",
}
VALIDATE_URL = "https://id.twitch.tv/oauth2/validate"
REVOKE_URL = "https://id.twitch.tv/oauth2/revoke"


class TwitchOptions(OAuth2Options):
    # Twitch documents no PKCE for confidential clients; its endpoints are fixed.
    pkce: bool = False
    force_verify: bool = False  # make the user re-approve even if already authorized

    @model_validator(mode="before")
    @classmethod
    def _fixed_endpoints(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            fixed = (*ENDPOINTS, "revocationURL", "validationURL", "profile_map")
            given = sorted(k for k in fixed if raw.get(k) not in (None, ENDPOINTS.get(k)))
            if raw.get("token_endpoint_auth_method") not in (None, "client_secret_post"):
                given.append("token_endpoint_auth_method")  # Twitch: form fields only
            if raw.get("pkce") is True:
                given.append("pkce")
            if given:
                raise ValueError(f"{', '.join(given)} cannot be set for twitch")
            raw = {**raw, **ENDPOINTS}
        return raw


class TwitchConnector(OAuth2Connector):
    strategy: ClassVar[str] = "twitch"
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[TwitchOptions]] = TwitchOptions  # type: ignore[assignment]
    options: TwitchOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.options.scopes(" ".join(SPEC.default_scopes)),
                                   *extra]))

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        url = await super().authorization_url(request)
        if self.options.force_verify or request.request_params.get("prompt") == "login":
            url += "&force_verify=true"
        return url

    def _secret(self) -> str:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for twitch")
        return self.client_secret

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        # Callback errors (access_denied: the user declined, redirect_mismatch, ...) are all
        # refusals.
        # Credentials go in the form.
        tokens = await self._token_call(self.code_grant_request(
            callback, ("client_id", "client_secret", "code", "grant_type", "redirect_uri"),
            secret=self._secret), "token")
        user = await self._user(tokens.access_token or "")
        subject = user.get("id")
        if not isinstance(subject, str) or not subject.isdigit():
            raise UpstreamProtocolError(detail="profile: no user id")
        return UpstreamLogin(issuer="https://id.twitch.tv/oauth2", subject=subject,
                             profile=_profile(user, subject), tokens=tokens)

    async def _token_call(self, data: dict[str, str], what: str) -> TokenSet:
        response = await send(self.http, "POST", ENDPOINTS["tokenURL"], what=what,
                              timeout=self.policy.timeout_s, data=data)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code in (400, 401):
            # Twitch's shape has no error code: a 400 on a code or refresh token means the
            # grant is unusable; a 401/403 the client itself is refused.
            if response.status_code == 400 and "invalid client" not in \
                    str(body.get("message", "")).lower():
                raise UpstreamTokenRejected(detail=f"{what}: HTTP 400")
            raise UpstreamDenied(detail=f"{what}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        access, token_type = body.get("access_token"), body.get("token_type")
        if not isinstance(access, str) or not access:
            raise UpstreamProtocolError(detail=f"{what}: no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamProtocolError(detail=f"{what}: token_type is not bearer")
        refresh = body.get("refresh_token")
        return TokenSet(access_token=access,
                        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                        token_type="Bearer", expires_at=expires_at(body, now_s()),
                        scope=scope_list(body.get("scope")))

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        return await self._token_call({
            "client_id": self.options.client_id, "client_secret": self._secret(),
            "grant_type": "refresh_token", "refresh_token": refresh_token}, "refresh")

    async def _user(self, token: str) -> dict[str, Any]:
        response = await send(self.http, "GET", ENDPOINTS["profileURL"], what="profile",
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {token}",
                                       "Client-Id": self.options.client_id})
        if transient(response):
            raise UpstreamUnavailable(detail=f"profile: HTTP {response.status_code}")
        if response.status_code == 401:
            raise UpstreamDenied(detail="profile: HTTP 401")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"profile: HTTP {response.status_code}")
        data = object_of(response, "profile").get("data")
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
            raise UpstreamProtocolError(detail="profile: not exactly one user")
        return data[0]

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Revoking the access token ends the authorization, its refresh token included."""
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="twitch_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s,
                                  data={"client_id": self.options.client_id,
                                        "token": tokens.access_token})
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or "revoke failed", method="twitch_revoke")
        status = response.status_code
        if status == 200:
            return RevocationResult(True, "revoked", method="twitch_revoke",
                                    revoked=["access_token", "refresh_token"])
        if transient(response):
            return RevocationResult(False, f"revoke: HTTP {status}", method="twitch_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        if status == 400:
            # "Invalid token": already expired or revoked, which is what was wanted.
            return RevocationResult(True, "already invalid", method="twitch_revoke")
        return RevocationResult(False, f"revoke: HTTP {status}", method="twitch_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await send(self.http, "GET", VALIDATE_URL, what="validate",
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"OAuth {access_token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"validate: HTTP {response.status_code}")
        if response.status_code == 401:
            return TokenCheck(active=False, method="twitch_validate")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"validate: HTTP {response.status_code}")
        body = object_of(response, "validate")
        if body.get("client_id") != self.options.client_id:
            # Live, but issued to another application: not ours to vouch for.
            raise UpstreamProtocolError(detail="validate: client_id is another app's")
        ttl = body.get("expires_in")
        return TokenCheck(active=True, method="twitch_validate",
                          scope=" ".join(scope_list(body.get("scopes"))) or None,
                          exp=now_s() + ttl if isinstance(ttl, int) and ttl > 0 and
                          not isinstance(ttl, bool) else None)


def _profile(user: dict[str, Any], subject: str) -> UpstreamProfile:
    claims = {"sub": subject, "email": user.get("email"), "email_verified": False,
              "name": user.get("display_name"), "nickname": user.get("login"),
              "picture": user.get("profile_image_url") or None,
              "broadcaster_type": user.get("broadcaster_type") or None}
    return profile_from_claims({k: v for k, v in claims.items() if v is not None})


CONNECTOR = TwitchConnector
