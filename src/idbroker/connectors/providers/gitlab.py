"""Sign in with GitLab (``strategy: "gitlab"``): an OpenID Connect preset for GitLab.com or a
self-managed instance (``options.base_url``).

GitLab specifics (docs.gitlab.com: "OAuth 2.0 identity provider API", "GitLab as an OpenID
Connect identity provider"): the endpoints live under the instance's URL (``/oauth/...``,
which may sit under a relative URL root); every code grant returns a refresh token, access
tokens last two hours, and a refresh revokes the refresh token it used (rotation); revocation
is RFC 7009 at ``/oauth/revoke``; ``/oauth/token/info`` describes a live token and answers 401
otherwise; ``email_verified`` is in the ID token and userinfo.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import field_validator, model_validator

from idbroker.clock import now_s
from idbroker.connectors.oidc import OIDCConnector, OIDCOptions
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import body_of, object_of, scope_list, send, short, \
    transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import ConfigurationError, UpstreamError, UpstreamProtocolError, \
    UpstreamUnavailable
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="gitlab", display_name="GitLab", protocol="oidc",
    default_scopes=("openid", "profile", "email"), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant (rotated: the used refresh token is revoked)",
    supports_revocation=True,
    revocation_method="POST {base_url}/oauth/revoke (RFC 7009)",
    validation_method="token_info",
    email_trust="`email_verified` claim of the ID token",
    rotates_refresh_tokens=True,
    notes=("`base_url` points a connection at a self-managed instance.",),
)
GITLAB_COM = "https://gitlab.com"
_DERIVED = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint",
            "jwks_uri", "discovery_url", "revocation_endpoint", "introspection_endpoint")


def endpoints(base_url: str) -> dict[str, str]:
    return {"issuer": base_url, "authorization_endpoint": base_url + "/oauth/authorize",
            "token_endpoint": base_url + "/oauth/token",
            "userinfo_endpoint": base_url + "/oauth/userinfo",
            "jwks_uri": base_url + "/oauth/discovery/keys"}


class GitLabOptions(OIDCOptions):
    base_url: str = GITLAB_COM
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a string such as https://gitlab.example.com")
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment \
                or parts.username or parts.password:
            raise ValueError("must be the https URL of a GitLab instance, such as "
                             "https://gitlab.example.com, without query or fragment")
        return value.strip().rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _derived_endpoints(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            given = sorted(k for k in _DERIVED if raw.get(k))
            if given:
                raise ValueError(f"{', '.join(given)} cannot be set for gitlab: "
                                 "set options.base_url for a self-managed instance")
            base = raw.get("base_url", GITLAB_COM)
            if isinstance(base, str):
                raw = {**raw, **endpoints(base.strip().rstrip("/"))}
        return raw


class GitLabConnector(OIDCConnector):
    strategy: ClassVar[str] = "gitlab"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[GitLabOptions]] = GitLabOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: GitLabOptions

    def _client(self, data: dict[str, str]) -> httpx.BasicAuth | None:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for gitlab")
        if self.options.token_endpoint_auth_method == "client_secret_basic":
            return httpx.BasicAuth(self.options.client_id, self.client_secret)
        data.update(client_id=self.options.client_id, client_secret=self.client_secret)
        return None

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """RFC 7009, one call: GitLab keeps an access token and its refresh token as one
        grant record, so revoking the refresh token (else the access token) ends both."""
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke")
        data = {"token": value, "token_type_hint": kind}
        try:
            auth = self._client(data)
            response = await send(self.http, "POST", self.options.base_url + "/oauth/revoke",
                                  what="revoke", timeout=self.policy.timeout_s, data=data,
                                  auth=auth)
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description)
        if response.status_code == 200:
            return RevocationResult(True, "revoked", revoked=["access_token", "refresh_token"])
        if transient(response):
            return RevocationResult(False, f"{kind}: HTTP {response.status_code}",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        body = body_of(response, "revoke")
        error = body.get("error") if isinstance(body, dict) else None
        return RevocationResult(False, f"{kind}: HTTP {response.status_code} "
                                       f"error={short(error)}")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await send(self.http, "GET", self.options.base_url + "/oauth/token/info",
                              what="token_info", timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {access_token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"token_info: HTTP {response.status_code}")
        if response.status_code == 401:
            return TokenCheck(active=False, method="token_info")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"token_info: HTTP {response.status_code}")
        body = object_of(response, "token_info")
        application = body.get("application")
        if not isinstance(application, dict) or application.get("uid") != self.options.client_id:
            raise UpstreamProtocolError(detail="token_info: token of another application")
        # expires_in is the remaining lifetime (null for a token that never expires).
        remaining = body.get("expires_in")
        exp = now_s() + remaining if isinstance(remaining, int) \
            and not isinstance(remaining, bool) and remaining >= 0 else None
        scopes = scope_list(body.get("scope") or body.get("scopes"))
        return TokenCheck(active=True, method="token_info", scope=" ".join(scopes) or None,
                          exp=exp)


CONNECTOR = GitLabConnector
