"""Sign in with Box (Auth0 ``strategy: "box"``): OAuth 2.0 code flow ("Client-side / OAuth 2.0
auth" of a Box Platform app).

Box specifics (developer.box.com: "OAuth 2.0 Auth", "Refresh a token", "Revoke a token",
reference ``POST /oauth2/token``, ``GET /users/me``, ``POST /oauth2/revoke``): the authorize
page is on account.box.com, every other call on api.box.com; the token endpoint takes the
client credentials as form fields and no ``redirect_uri``; every login yields a refresh token
(no offline parameter) that is single-use and rotated on each refresh (60 days); access
tokens last about an hour; errors are RFC 6749 bodies (``invalid_grant``, ``invalid_client``);
the user's numeric ``id`` (a string) is stable, ``login`` is the account's email address,
which Box does not say it verified; ``/oauth2/revoke`` takes either token and ends the
session. Box documents no introspection for user tokens: a token is checked by reading
``/users/me?fields=id`` with it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from idbroker.connectors.base import UpstreamCallback, UpstreamLogin
from idbroker.connectors.oauth2 import LockedOAuth2Options, OAuth2Connector
from idbroker.connectors.oidc import token_set
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import body_of, object_of, send, short, transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.upstream_http import request_json
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import ConfigurationError, UpstreamDenied, UpstreamError, \
    UpstreamProtocolError, UpstreamUnavailable
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="box", display_name="Box", protocol="oauth2",
    default_scopes=("root_readonly",), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant; single-use refresh tokens, rotated (60 days)",
    supports_revocation=True,
    revocation_method="POST https://api.box.com/oauth2/revoke (either token ends the session)",
    validation_method="profile_probe",
    email_trust="never: Box does not say `login` was verified",
    rotates_refresh_tokens=True,
    notes=("Box scopes are enabled on the app in the Developer Console; a requested scope "
           "the app lacks is refused (`invalid_scope`).",),
)
ENDPOINTS = {
    "authorizationURL": "https://account.box.com/api/oauth2/authorize",
    "tokenURL": "https://api.box.com/oauth2/token",
    "profileURL": "https://api.box.com/2.0/users/me",
}
REVOKE_URL = "https://api.box.com/oauth2/revoke"
_PROFILE_FIELDS = "id,name,login,avatar_url,language,timezone"


class BoxOptions(LockedOAuth2Options):
    # Box's endpoints are fixed, it takes client credentials as form fields only, and it
    # documents no PKCE for its authorize page.
    locked_endpoints: ClassVar[dict[str, str]] = ENDPOINTS
    locked_auth_method: ClassVar[str | None] = "client_secret_post"
    provider_name: ClassVar[str] = "box"
    pkce: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_pkce(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("pkce") is True:
            raise ValueError("pkce: Box does not support PKCE")
        return raw


class BoxConnector(OAuth2Connector):
    strategy: ClassVar[str] = "box"
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[BoxOptions]] = BoxOptions  # type: ignore[assignment]
    options: BoxOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.options.scopes(" ".join(SPEC.default_scopes)),
                                   *extra]))

    def _secret(self) -> str:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for box")
        return self.client_secret

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        # Callback errors (access_denied, invalid_request, unauthorized_client, ...) are
        # all refusals.
        # Box's token request has no redirect_uri; credentials go in the form.
        data = self.code_grant_request(
            callback, ("grant_type", "code", "client_id", "client_secret"), secret=self._secret)
        body = await request_json(self.http, "POST", ENDPOINTS["tokenURL"], what="token",
                                  timeout=self.policy.timeout_s, data=data)
        tokens = token_set(body)
        user = await self._me(tokens.access_token or "", _PROFILE_FIELDS, "profile")
        subject = user.get("id")
        if user.get("type") != "user" or not isinstance(subject, str) or not subject.isdigit():
            raise UpstreamProtocolError(detail="profile: no user id")
        return UpstreamLogin(issuer="https://api.box.com", subject=subject,
                             profile=_profile(user, subject), tokens=tokens)

    async def _me(self, token: str, fields: str, what: str) -> dict[str, Any]:
        response = await send(self.http, "GET", ENDPOINTS["profileURL"], what=what,
                              timeout=self.policy.timeout_s, params={"fields": fields},
                              headers={"Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"{what}: HTTP {response.status_code}")
        if response.status_code == 401:
            raise UpstreamDenied(detail=f"{what}: HTTP 401")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        return object_of(response, what)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Revoking the refresh token ends the session, its access token included."""
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke", method="box_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s,
                                  data={"client_id": self.options.client_id,
                                        "client_secret": self._secret(), "token": value})
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description, method="box_revoke")
        status = response.status_code
        if status == 200:
            return RevocationResult(True, "revoked", method="box_revoke",
                                    revoked=["refresh_token", "access_token"])
        if transient(response):
            return RevocationResult(False, f"{kind}: HTTP {status}", method="box_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        body = body_of(response, "revoke")
        error = body.get("error") if isinstance(body, dict) else None
        return RevocationResult(False, f"{kind}: HTTP {status} error={short(error)}",
                                method="box_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        try:
            await self._me(access_token, "id", "validation")
        except UpstreamDenied:
            return TokenCheck(active=False, method="profile_probe")
        return TokenCheck(active=True, method="profile_probe")


def _profile(user: dict[str, Any], subject: str) -> UpstreamProfile:
    # ``login`` is the address the person signs in with; Box does not vouch for it.
    claims = {"sub": subject, "email": user.get("login"), "email_verified": False,
              "name": user.get("name"), "picture": user.get("avatar_url"),
              "locale": user.get("language"), "zoneinfo": user.get("timezone")}
    return profile_from_claims({k: v for k, v in claims.items() if v is not None})


CONNECTOR = BoxConnector
