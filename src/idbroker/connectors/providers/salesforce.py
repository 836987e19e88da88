"""Salesforce (Auth0 ``strategy: "salesforce"``): an OpenID Connect preset for production
(``https://login.salesforce.com``), a sandbox (``https://test.salesforce.com``, Auth0's
``salesforce-sandbox``) or a My Domain (``https://{name}.my.salesforce.com``).

Salesforce specifics (help.salesforce.com / developer.salesforce.com "OAuth 2.0 Web Server
Flow", "Revoke OAuth Tokens", "OAuth 2.0 Token Introspection"): a refresh token only with
the ``refresh_token`` (alias ``offline_access``) scope; the token response has no
``expires_in`` (the access token lives for the org's session timeout, counted from
``issued_at`` in milliseconds) and a refresh answers no new refresh token unless the connected
app rotates them; revocation at ``/services/oauth2/revoke`` (revoking the refresh token ends
its access tokens; an unknown token is 400 ``unsupported_token_type``); RFC 7662
introspection at ``/services/oauth2/introspect`` with the client credentials.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from idbroker.connectors.base import UpstreamCallback, UpstreamLogin
from idbroker.connectors.oidc import OIDCConnector, OIDCOptions, token_set
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import body_of, send, short, transient
from idbroker.connectors.refresh import post_token_request
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.upstream_http import client_auth
from idbroker.connectors.validation import TokenCheck, introspect
from idbroker.errors import UpstreamError, UpstreamProtocolError, UpstreamTokenRejected
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="salesforce", display_name="Salesforce", protocol="oidc",
    default_scopes=("openid", "profile", "email", "refresh_token"),
    offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant; needs the `refresh_token` scope; not rotated unless "
                   "the connected app rotates refresh tokens",
    supports_revocation=True,
    revocation_method="POST {base}/services/oauth2/revoke (RFC 7009; ends the grant)",
    validation_method="introspection",
    email_trust="`email_verified` claim of the ID token / userinfo",
)
PRODUCTION = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"
# My Domain login URLs, production and sandbox (name--sandbox.sandbox.my.salesforce.com).
_MY_DOMAIN = re.compile(r"^https://[a-z0-9][a-z0-9-]{0,78}(\.sandbox)?\.my\.salesforce\.com$")
# The ID token's sub is the identity URL {base}/id/{orgId}/{userId}.
_IDENTITY_URL = re.compile(r"/id/(00D[A-Za-z0-9]{12,15})/(005[A-Za-z0-9]{12,15})$")
_ENDPOINT_OPTIONS = ("discovery_url", "issuer", "authorization_endpoint", "token_endpoint",
                     "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                     "introspection_endpoint")


def endpoints(base: str) -> dict[str, str]:
    return {"issuer": base,
            "authorization_endpoint": f"{base}/services/oauth2/authorize",
            "token_endpoint": f"{base}/services/oauth2/token",
            "userinfo_endpoint": f"{base}/services/oauth2/userinfo",
            "jwks_uri": f"{base}/id/keys",
            "revocation_endpoint": f"{base}/services/oauth2/revoke",
            "introspection_endpoint": f"{base}/services/oauth2/introspect"}


class SalesforceOptions(OIDCOptions):
    sandbox: bool = False
    base_url: str = PRODUCTION
    # Seconds an access token lives (the org's session timeout; Salesforce does not say).
    session_timeout_s: int = Field(7200, ge=900, le=86400)
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @model_validator(mode="before")
    @classmethod
    def _fixed_endpoints(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        base = raw.get("base_url")
        if base is not None and not (isinstance(base, str) and (
                base in (PRODUCTION, SANDBOX) or _MY_DOMAIN.match(base))):
            raise ValueError(f"base_url must be {PRODUCTION}, {SANDBOX} or a My Domain URL "
                             "such as https://acme.my.salesforce.com (no path, no trailing /)")
        if raw.get("sandbox") is True:
            if base not in (None, SANDBOX):
                raise ValueError("sandbox: true and a base_url other than "
                                 f"{SANDBOX} contradict each other")
            base = SANDBOX
        base = base or PRODUCTION
        fixed = endpoints(base)
        given = sorted(k for k in _ENDPOINT_OPTIONS if raw.get(k))
        if any(raw.get(k) != fixed[k] for k in given):
            raise ValueError(f"{', '.join(given)} cannot be set for salesforce; "
                             "use base_url or sandbox")
        return {**raw, **fixed, "base_url": base}


class SalesforceConnector(OIDCConnector):
    strategy: ClassVar[str] = "salesforce"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[SalesforceOptions]] = SalesforceOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: SalesforceOptions

    def _with_lifetime(self, body: dict[str, Any]) -> dict[str, Any]:
        """Salesforce sends ``issued_at`` (ms) but no ``expires_in``: derive it from the
        configured session timeout, so the token is refreshed before Salesforce drops it."""
        if "expires_in" in body:
            return body
        issued = body.get("issued_at")
        issued_s = int(issued) // 1000 if isinstance(issued, str) and issued.isdigit() \
            else int(time.time())
        remaining = issued_s + self.options.session_timeout_s - int(time.time())
        return {**body, "expires_in": max(remaining, 1)}

    async def _redeem(self, meta: dict[str, Any], code: str,
                      callback: UpstreamCallback) -> dict[str, Any]:
        return self._with_lifetime(await super()._redeem(meta, code, callback))

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        """The subject is ``{orgId}|{userId}``: a user id alone is not unique, since a sandbox
        keeps the ids of the production users it was copied from."""
        login = await super().complete(callback)
        match = _IDENTITY_URL.search(login.subject)
        if match is None:
            raise UpstreamProtocolError(detail="id_token: sub is not a Salesforce identity URL")
        login.subject = f"{match.group(1)}|{match.group(2)}"
        return login

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        meta = await self.metadata()
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        auth = client_auth(self._auth_method(meta), self.options.client_id, self.client_secret,
                           data)
        body = await post_token_request(self.http, meta["token_endpoint"], data, auth, timeout)
        tokens = token_set(self._with_lifetime(body))
        # The identity URL in a refreshed ID token cannot be matched against the stored
        # subject reliably, so it is not kept: the login's ID token stays.
        tokens.id_token = None
        return tokens

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Revoking the refresh token ends the whole grant, its access tokens included."""
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke")
        try:
            response = await send(self.http, "POST", endpoints(self.options.base_url)[
                "revocation_endpoint"], what="revoke", timeout=self.policy.timeout_s,
                data={"token": value})
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or "revoke failed")
        if response.status_code == 200:
            return RevocationResult(True, "revoked", revoked=[kind])
        if transient(response):
            return RevocationResult(False, f"{kind}: HTTP {response.status_code}",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        body = body_of(response, "revoke")
        error = body.get("error") if isinstance(body, dict) else None
        if error in ("unsupported_token_type", "invalid_token"):
            # Salesforce's answer for a token it no longer knows: already revoked or expired.
            return RevocationResult(True, "already invalid")
        return RevocationResult(False, f"{kind}: HTTP {response.status_code} error={short(error)}")

    async def validate_token(self, access_token: str) -> TokenCheck:
        url = endpoints(self.options.base_url)["introspection_endpoint"]
        return await introspect(self, {}, url, access_token)


CONNECTOR = SalesforceConnector
