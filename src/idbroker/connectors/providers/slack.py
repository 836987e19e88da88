"""Sign in with Slack (Auth0 ``strategy: "sign-in-with-slack"``): an OpenID Connect preset.

Slack specifics (api.slack.com/authentication/sign-in-with-slack, methods
``openid.connect.token``, ``openid.connect.userInfo``, ``auth.test``, ``auth.revoke``, and
"Token rotation"): Slack's Web API answers errors with HTTP 200 and
``{"ok": false, "error": "..."}`` (``invalid_code``, ``bad_client_secret``,
``invalid_refresh_token``, ``invalid_auth``, ``token_revoked``...), so every call is read for
``ok``; no PKCE and no ``prompt`` are documented, so neither is sent; a refresh token exists
only when the app has token rotation turned on (access tokens then last 12 hours);
``auth.revoke`` revokes a token; ``auth.test`` says whether one still works. Workspace
claims come as URL-named claims (``https://slack.com/team_id``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode

import httpx
from pydantic import model_validator

from idbroker.connectors.base import UpstreamAuthorization, UpstreamCallback, UpstreamLogin
from idbroker.connectors.oidc import OIDCConnector, OIDCOptions, token_set
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import object_of, send, short, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamError, UpstreamProtocolError,
    UpstreamTokenRejected, UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="sign-in-with-slack", display_name="Sign in with Slack", protocol="oidc",
    default_scopes=("openid", "profile", "email"), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant on openid.connect.token, only for apps with token "
                   "rotation turned on",
    supports_revocation=True, revocation_method="POST https://slack.com/api/auth.revoke",
    validation_method="auth_test",
    email_trust="`email_verified` claim of the ID token",
)
API = "https://slack.com/api"
ENDPOINTS = {
    "issuer": "https://slack.com",
    "authorization_endpoint": "https://slack.com/openid/connect/authorize",
    "token_endpoint": API + "/openid.connect.token",
    "userinfo_endpoint": API + "/openid.connect.userInfo",
    "jwks_uri": "https://slack.com/openid/connect/keys",
}
# Errors of openid.connect.token meaning "this code or grant is dead"; the client ones a
# refused login. Anything else is unexpected.
_DEAD = frozenset({"invalid_code", "code_already_used", "invalid_refresh_token",
                   "token_revoked", "token_expired"})
_REFUSED = frozenset({"invalid_client_id", "bad_client_secret", "bad_redirect_uri",
                      "oauth_authorization_url_mismatch", "invalid_grant_type",
                      "cannot_install_an_org_installed_app", "access_denied",
                      "team_access_not_granted"})
_CLAIMS = {"https://slack.com/team_id": "team_id", "https://slack.com/user_id": "slack_user_id",
           "https://slack.com/team_name": "team_name",
           "https://slack.com/team_domain": "team_domain"}


class SlackOptions(OIDCOptions):
    # Lets a login go straight to one workspace (Slack's ``team`` authorize parameter).
    team: str | None = None
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @model_validator(mode="before")
    @classmethod
    def _fixed_endpoints(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            given = sorted(k for k in (*ENDPOINTS, "discovery_url", "revocation_endpoint",
                                       "introspection_endpoint") if raw.get(k))
            if any(raw.get(k) != ENDPOINTS.get(k) for k in given):
                raise ValueError(f"{', '.join(given)} cannot be set for sign-in-with-slack")
            team = raw.get("team")
            if team is not None and (not isinstance(team, str) or not team.isalnum()
                                     or not team.startswith(("T", "E"))):
                raise ValueError("options.team must be a Slack workspace ID such as T0123ABCD")
            raw = {**raw, **ENDPOINTS}
        return raw


class SlackConnector(OIDCConnector):
    strategy: ClassVar[str] = "sign-in-with-slack"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[SlackOptions]] = SlackOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: SlackOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        base, _, query = (await super().authorization_url(request)).partition("?")
        params = dict(parse_qsl(query, keep_blank_values=True))
        for name in ("code_challenge", "code_challenge_method", "prompt"):
            params.pop(name, None)
        if self.options.team:
            params["team"] = self.options.team
        return base + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        login = await super().complete(callback)
        extra = login.profile.extra
        extra.pop("ok", None)
        for claim, name in _CLAIMS.items():
            if claim in extra:
                extra[name] = extra.pop(claim)
        return login

    # --- Slack Web API: HTTP 200 with {"ok": false} on error ---------------------------------

    def _client(self, data: dict[str, str]) -> httpx.BasicAuth | None:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for sign-in-with-slack")
        if self.options.token_endpoint_auth_method == "client_secret_basic":
            return httpx.BasicAuth(self.options.client_id, self.client_secret)
        data.update(client_id=self.options.client_id, client_secret=self.client_secret)
        return None

    async def _method(self, name: str, what: str, *, data: dict[str, str] | None = None,
                      token: str | None = None, auth: httpx.Auth | None = None
                      ) -> dict[str, Any]:
        """One Web API call; its body, whose ``ok`` the caller reads."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = await send(self.http, "POST", f"{API}/{name}", what=what,
                              timeout=self.policy.timeout_s, data=data or {}, headers=headers,
                              auth=auth)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code != 200 or not isinstance(body.get("ok"), bool):
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        return body

    async def _token_call(self, data: dict[str, str], what: str) -> dict[str, Any]:
        auth = self._client(data)
        body = await self._method("openid.connect.token", what, data=data, auth=auth)
        if body["ok"] is not True:
            error = body.get("error")
            if error in _DEAD:
                raise UpstreamTokenRejected(detail=f"{what}: {error}")
            if error in _REFUSED:
                raise UpstreamDenied(detail=f"{what}: {error}")
            raise UpstreamProtocolError(detail=f"{what}: error={short(error)}")
        return body

    async def _redeem(self, meta: dict[str, Any], code: str,
                      callback: UpstreamCallback) -> dict[str, Any]:
        try:
            return await self._token_call({"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": callback.callback_url}, "token")
        except UpstreamTokenRejected as exc:
            # A dead code refuses this login; it is no stored grant to mark.
            raise UpstreamDenied(detail=exc.detail) from exc

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token (token rotation off)")
        body = await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")
        tokens = token_set(body)
        tokens.id_token = None  # a refreshed id_token is not re-verified here, so not kept
        return tokens

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="auth_revoke")
        try:
            body = await self._method("auth.revoke", "revoke", token=tokens.access_token)
        except UpstreamRetryLater as exc:
            return RevocationResult(False, exc.detail or "revoke failed", method="auth_revoke",
                                    retry_after_s=exc.retry_after_s)
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or "revoke failed", method="auth_revoke")
        if body["ok"] is True:
            return RevocationResult(True, "revoked", method="auth_revoke",
                                    revoked=["access_token", "refresh_token"])
        if body.get("error") in ("invalid_auth", "token_revoked", "token_expired",
                                 "account_inactive"):
            return RevocationResult(True, "already invalid", method="auth_revoke")
        return RevocationResult(False, f"auth.revoke: error={short(body.get('error'))}",
                                method="auth_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        try:
            body = await self._method("auth.test", "auth.test", token=access_token)
        except UpstreamRetryLater as exc:
            raise UpstreamUnavailable(detail=exc.detail) from exc
        if body["ok"] is True:
            return TokenCheck(active=True, method="auth_test")
        if body.get("error") in ("invalid_auth", "token_revoked", "token_expired",
                                 "account_inactive", "not_authed"):
            return TokenCheck(active=False, method="auth_test")
        raise UpstreamProtocolError(detail=f"auth.test: error={short(body.get('error'))}")


CONNECTOR = SlackConnector
