"""Sign in with Google (Auth0 ``strategy: "google-oauth2"``): an OpenID Connect preset.

Google specifics (developers.google.com/identity/protocols/oauth2/web-server): a refresh
token only with ``access_type=offline``, and again on a later login only with
``prompt=consent``; ``include_granted_scopes=true`` for incremental consent; the ``hd``
claim names a Workspace account's domain; revocation at ``/revoke`` ends the whole grant;
``tokeninfo`` describes a live access token and answers 400 ``invalid_token`` otherwise.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode

from pydantic import field_validator, model_validator

from idbroker.connectors.base import UpstreamAuthorization
from idbroker.connectors.oidc import OIDCConnector, OIDCOptions
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import body_of, object_of, send, short, transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamDenied, UpstreamError, UpstreamProtocolError, \
    UpstreamUnavailable
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="google-oauth2", display_name="Google", protocol="oidc",
    default_scopes=("openid", "profile", "email"),
    offline_params={"access_type": "offline", "prompt": "consent"},
    supports_refresh=True, refresh_method="refresh_token grant (not rotated)",
    supports_revocation=True,
    revocation_method="POST https://oauth2.googleapis.com/revoke (ends the whole grant)",
    validation_method="tokeninfo",
    email_trust="`email_verified` claim of the ID token",
)
ISSUER = "https://accounts.google.com"
ENDPOINTS = {
    "issuer": ISSUER,
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": "https://oauth2.googleapis.com/token",
    "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
}
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class GoogleOptions(OIDCOptions):
    # Google's endpoints are fixed; only these are the operator's to choose.
    offline_access: bool = False
    allowed_hosted_domains: list[str] = []
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @model_validator(mode="before")
    @classmethod
    def _fixed_endpoints(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            given = sorted(k for k in (*ENDPOINTS, "discovery_url", "revocation_endpoint",
                                       "introspection_endpoint") if raw.get(k))
            if any(raw.get(k) != ENDPOINTS.get(k) for k in given):
                raise ValueError(f"{', '.join(given)} cannot be set for google-oauth2")
            raw = {**raw, **ENDPOINTS}
        return raw

    @field_validator("allowed_hosted_domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> Any:
        if not isinstance(value, list) or len(value) > 100:
            raise ValueError("must be a list of at most 100 domain names")
        for item in value:
            if not isinstance(item, str) or not _DOMAIN.match(item):
                raise ValueError(f"{str(item)[:80]!r} is not a lower-case domain name "
                                 "such as example.com")
        return value


class GoogleConnector(OIDCConnector):
    strategy: ClassVar[str] = "google-oauth2"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[GoogleOptions]] = GoogleOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: GoogleOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        base, _, query = (await super().authorization_url(request)).partition("?")
        params = dict(parse_qsl(query, keep_blank_values=True))
        params["include_granted_scopes"] = "true"
        prompts = set(params.pop("prompt", "").split())
        if "login" in prompts:
            # Google knows no prompt=login; choosing the account again is the nearest.
            prompts = (prompts - {"login"}) | {"select_account"}
        if self.options.offline_access or request.request_params.get("access_type") == "offline":
            offline = dict(SPEC.offline_params)
            prompts |= set(offline.pop("prompt", "").split())
            params.update(offline)
        if prompts:
            params["prompt"] = " ".join(sorted(prompts))
        if len(self.options.allowed_hosted_domains) == 1:
            # Only a hint for Google's account chooser; the hd claim is what is checked.
            params["hd"] = self.options.allowed_hosted_domains[0]
        return base + "?" + urlencode(params)

    async def verify_id_token(self, token: str, meta: dict[str, Any],
                              nonce: str) -> dict[str, Any]:
        claims = await super().verify_id_token(token, meta, nonce)
        allowed = self.options.allowed_hosted_domains
        if allowed and claims.get("hd") not in allowed:
            raise UpstreamDenied(detail=f"id_token: hd {short(claims.get('hd'))} not allowed")
        return claims

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Revoking the refresh token also ends its access tokens, so one call suffices."""
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke", method="google_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s, data={"token": value})
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or "revoke failed", method="google_revoke")
        if response.status_code == 200:
            return RevocationResult(True, "revoked", method="google_revoke", revoked=[kind])
        if transient(response):
            return RevocationResult(False, f"{kind}: HTTP {response.status_code}",
                                    method="google_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        body = body_of(response, "revoke")
        error = body.get("error") if isinstance(body, dict) else None
        if error == "invalid_token":
            # Already expired or revoked: the grant is gone, which is what was wanted.
            return RevocationResult(True, "already invalid", method="google_revoke")
        return RevocationResult(False, f"{kind}: HTTP {response.status_code} error={short(error)}",
                                method="google_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        # POST keeps the token out of the URL (and so out of any access log).
        response = await send(self.http, "POST", TOKENINFO_URL, what="tokeninfo",
                              timeout=self.policy.timeout_s, data={"access_token": access_token})
        if transient(response):
            raise UpstreamUnavailable(detail=f"tokeninfo: HTTP {response.status_code}")
        body = object_of(response, "tokeninfo")
        if response.status_code == 400 and body.get("error") in ("invalid_token",
                                                                 "invalid_request"):
            return TokenCheck(active=False, method="tokeninfo")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"tokeninfo: HTTP {response.status_code}")
        if self.options.client_id not in (body.get("aud"), body.get("azp")):
            # A live token, but not one Google issued to this client: not ours to vouch for.
            raise UpstreamProtocolError(detail="tokeninfo: aud is another client")
        exp = body.get("exp")
        scope = body.get("scope")
        return TokenCheck(active=True, method="tokeninfo",
                          scope=scope if isinstance(scope, str) else None,
                          exp=int(exp) if isinstance(exp, str) and exp.isdigit() else None)


CONNECTOR = GoogleConnector
