"""LINE Login v2.1 (Auth0 ``strategy: "line"``): OpenID Connect on ``https://access.line.me``.

LINE specifics (developers.line.biz/en/reference/line-login, docs/line-login/
verify-id-token): web-login ID tokens are signed HS256 with the channel secret, so
idbroker has LINE verify them (``POST /oauth2/v2.1/verify`` with ``id_token``, ``client_id``
and ``nonce``) instead of holding a shared-secret verifier; the channel id and secret go in
the form body; access tokens live 30 days and a refresh token (usable up to 90 days after
the access token was issued) comes with every code and is replaced on refresh; an access
token is checked with ``GET /oauth2/v2.1/verify?access_token=`` (its ``client_id`` must be
our channel) and revoked with ``POST /oauth2/v2.1/revoke``. LINE sends an email (scope
``email``, a permission LINE grants on application) without ``email_verified``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from idbroker.connectors.oidc import check_id_token_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.keycloak import PresetOIDCConnector, PresetOptions
from idbroker.connectors.providers.wire import body_of, object_of, send, short, transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamError, UpstreamProtocolError, UpstreamUnavailable
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="line", display_name="LINE", protocol="oidc",
    default_scopes=("openid", "profile", "email"),
    offline_params={},
    supports_refresh=True, refresh_method="refresh_token grant (a new refresh token each time)",
    rotates_refresh_tokens=True,
    supports_revocation=True,
    revocation_method="POST https://api.line.me/oauth2/v2.1/revoke (the access token)",
    validation_method="line_verify",
    email_trust="never: LINE sends no email_verified",
)
ISSUER = "https://access.line.me"
API = "https://api.line.me/oauth2/v2.1"
ENDPOINTS = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/oauth2/v2.1/authorize",
    "token_endpoint": f"{API}/token",
    "userinfo_endpoint": f"{API}/userinfo",
    "jwks_uri": f"{API}/certs",
}
VERIFY_URL = f"{API}/verify"
REVOKE_URL = f"{API}/revoke"


class LineOptions(PresetOptions):
    preset: ClassVar[str] = "line"
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = \
        "client_secret_post"

    @classmethod
    def endpoints(cls, raw: dict[str, Any]) -> dict[str, Any]:
        return dict(ENDPOINTS)


class LineConnector(PresetOIDCConnector):
    strategy: ClassVar[str] = "line"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[LineOptions]] = LineOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: LineOptions

    async def verify_id_token(self, token: str, meta: dict[str, Any],
                              nonce: str) -> dict[str, Any]:
        response = await send(self.http, "POST", VERIFY_URL, what="verify id_token",
                              timeout=self.policy.timeout_s, data={
                                  "id_token": token, "client_id": self.options.client_id,
                                  "nonce": nonce})
        if transient(response):
            raise UpstreamUnavailable(detail=f"verify id_token: HTTP {response.status_code}")
        claims = object_of(response, "verify id_token")
        if response.status_code != 200:
            raise UpstreamProtocolError(
                detail=f"verify id_token: HTTP {response.status_code} "
                       f"error={short(claims.get('error'))}")
        # LINE checked the signature; the claims are still ours to check.
        check_id_token_claims(claims, issuer=ISSUER, client_id=self.options.client_id,
                              nonce=nonce)
        # No email_verified from LINE: never let an email vouch for an account.
        return {k: v for k, v in claims.items() if k != "email_verified"}

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await send(self.http, "GET", VERIFY_URL, what="verify",
                              timeout=self.policy.timeout_s,
                              params={"access_token": access_token})
        if transient(response):
            raise UpstreamUnavailable(detail=f"verify: HTTP {response.status_code}")
        body = object_of(response, "verify")
        if response.status_code in (400, 401):
            return TokenCheck(active=False, method="line_verify")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"verify: HTTP {response.status_code}")
        if str(body.get("client_id")) != self.options.client_id:
            raise UpstreamProtocolError(detail="verify: client_id is another channel")
        left = body.get("expires_in")
        if not isinstance(left, int) or isinstance(left, bool) or left <= 0:
            return TokenCheck(active=False, method="line_verify")
        scope = body.get("scope")
        return TokenCheck(active=True, method="line_verify",
                          scope=scope if isinstance(scope, str) else None)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="line_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s, data={
                                      "access_token": tokens.access_token,
                                      "client_id": self.options.client_id,
                                      "client_secret": self.client_secret or ""})
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or "revoke failed", method="line_revoke")
        if response.status_code == 200:
            return RevocationResult(True, "revoked", method="line_revoke",
                                    revoked=["access_token"])
        if transient(response):
            return RevocationResult(False, f"access_token: HTTP {response.status_code}",
                                    method="line_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        body = body_of(response, "revoke")
        error = body.get("error") if isinstance(body, dict) else None
        return RevocationResult(False, f"access_token: HTTP {response.status_code} "
                                       f"error={short(error)}", method="line_revoke")


CONNECTOR = LineConnector
