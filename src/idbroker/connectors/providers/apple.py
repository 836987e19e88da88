"""Sign in with Apple (Auth0 ``strategy: "apple"``): an OpenID Connect preset with Apple's
own rules (developer.apple.com/documentation/signinwithapplerestapi).

- The client secret is a JWT the developer signs with ES256 (header ``kid`` = Key ID; claims
  ``iss`` = Team ID, ``sub`` = Services ID, ``aud`` = https://appleid.apple.com, ``exp`` at
  most six months away). It is minted here from the sealed ``private_key`` and cached until
  shortly before it expires.
- Asking for ``name`` or ``email`` requires ``response_mode=form_post``: the callback is a
  cross-site POST (see http/oauth_routes.py ``needs_resubmit`` for the binding cookie).
- The ``user`` JSON (the person's name) is posted only on the first authorization; later
  logins keep the stored name (``UpstreamProfile.kept``).
- ``email_verified`` / ``is_private_email`` arrive as the strings "true"/"false".
- No userinfo, no introspection: the access token is usable nowhere. The one documented
  check is a refresh_token grant ("verify the refresh token up to once a day").
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from pydantic import Field, SecretStr, field_validator, model_validator

from idbroker.connectors.base import UpstreamAuthorization, UpstreamCallback, UpstreamLogin, \
    upstream_params
from idbroker.connectors.oidc import OIDCConnector, OIDCOptions
from idbroker.connectors.profile import is_true
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import body_of, object_of, send, short, transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.upstream_http import request_json
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import ConfigurationError, UpstreamError, UpstreamProtocolError, \
    UpstreamUnavailable
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="apple", display_name="Apple", protocol="oidc",
    default_scopes=("name", "email"), offline_params={},
    supports_refresh=True, refresh_method="refresh_token grant (not rotated; always issued)",
    supports_revocation=True,
    revocation_method="POST https://appleid.apple.com/auth/revoke (ends the grant)",
    validation_method="refresh_token_grant",
    email_trust="`email_verified` claim of the ID token (the string \"true\")",
    requires_client_secret=False,
    notes=("client secret is an ES256 JWT minted from the sealed `private_key`",
           "callback is a form_post when name/email are asked",
           "name is sent only on the first login and kept afterwards"),
)
ISSUER = "https://appleid.apple.com"
ENDPOINTS = {
    "issuer": ISSUER,
    "authorization_endpoint": "https://appleid.apple.com/auth/authorize",
    "token_endpoint": "https://appleid.apple.com/auth/token",
    "jwks_uri": "https://appleid.apple.com/auth/keys",
}
REVOKE_URL = "https://appleid.apple.com/auth/revoke"
MAX_SECRET_TTL_S = 15_777_000  # Apple: no more than six months
_TEN = re.compile(r"^[A-Z0-9]{10}$")


class AppleOptions(OIDCOptions):
    team_id: str
    key_id: str
    private_key: SecretStr  # sealed (registry.SECRET_OPTIONS), never returned
    client_secret_ttl_s: int = Field(default=86_400, ge=300, le=MAX_SECRET_TTL_S)
    token_endpoint_auth_method: Literal["client_secret_post"] = "client_secret_post"

    @model_validator(mode="before")
    @classmethod
    def _fixed_endpoints(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            given = sorted(k for k in (*ENDPOINTS, "discovery_url", "userinfo_endpoint",
                                       "revocation_endpoint", "introspection_endpoint")
                           if raw.get(k))
            if any(raw.get(k) != ENDPOINTS.get(k) for k in given):
                raise ValueError(f"{', '.join(given)} cannot be set for apple")
            raw = {**raw, **ENDPOINTS}
        return raw

    @field_validator("team_id", "key_id")
    @classmethod
    def _ten(cls, value: str) -> str:
        if not _TEN.match(value):
            raise ValueError("must be the 10-character identifier shown in Apple's developer "
                             "account (A-Z, 0-9)")
        return value

    @field_validator("private_key")
    @classmethod
    def _pem(cls, value: SecretStr) -> SecretStr:
        try:
            key = ECKey.import_key(value.get_secret_value())
        except (JoseError, ValueError, TypeError) as exc:
            raise ValueError("must be the PEM of the .p8 key downloaded from Apple") from exc
        if key.curve_name != "P-256" or not key.is_private:
            raise ValueError("must be a private P-256 (ES256) key, the .p8 file from Apple")
        return value


class AppleConnector(OIDCConnector):
    strategy: ClassVar[str] = "apple"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[AppleOptions]] = AppleOptions  # type: ignore[assignment]
    default_scope: ClassVar[str] = " ".join(SPEC.default_scopes)
    options: AppleOptions
    _minted: tuple[str, float] | None = None

    # The generic token, refresh and revocation code reads ``client_secret``: it is the JWT.
    @property  # type: ignore[override]
    def client_secret(self) -> str:
        now = time.time()
        if self._minted is None or self._minted[1] - 300 < now:
            exp = int(now) + self.options.client_secret_ttl_s
            claims = {"iss": self.options.team_id, "iat": int(now), "exp": exp,
                      "aud": ISSUER, "sub": self.options.client_id}
            key = ECKey.import_key(self.options.private_key.get_secret_value())
            token = jwt.encode({"alg": "ES256", "kid": self.options.key_id}, claims, key)
            self._minted = (token, float(exp))
        return self._minted[0]

    @client_secret.setter
    def client_secret(self, _ignored: str | None) -> None:
        self._minted = None

    def scopes(self, extra: list[str]) -> list[str]:
        # Apple knows only "name" and "email"; the ID token comes without "openid".
        return list(dict.fromkeys([*self.options.scopes(self.default_scope), *extra]))

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        meta = await self.metadata()
        scopes = self.scopes(request.extra_scopes)
        params = {
            **upstream_params(self.options, request.request_params),
            "response_type": "code",
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "state": request.state,
            "nonce": request.nonce,
            # Apple requires form_post whenever name or email is asked for.
            "response_mode": "form_post" if {"name", "email"} & set(scopes) else "query",
        }
        if scopes:
            params["scope"] = " ".join(scopes)
        return meta["authorization_endpoint"] + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        login = await super().complete(callback)
        claims_extra = dict(login.profile.extra)
        if "is_private_email" in claims_extra:
            claims_extra["is_private_email"] = is_true(claims_extra["is_private_email"])
        first = _name_of(callback.params.get("user"))
        if first:
            login.profile = dataclasses.replace(login.profile, **first, extra=claims_extra)
        else:
            login.profile = dataclasses.replace(login.profile, extra=claims_extra,
                                                kept=("name", "given_name", "family_name"))
        return login

    async def _redeem(self, meta: dict[str, Any], code: str,
                      callback: UpstreamCallback) -> dict[str, Any]:
        # Apple documents no PKCE: state, nonce and the binding cookie guard the code.
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": callback.callback_url, "client_id": self.options.client_id,
                "client_secret": self.client_secret}
        return await request_json(self.http, "POST", meta["token_endpoint"], what="token",
                                  timeout=self.policy.timeout_s, data=data)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Revoking the refresh token ends the user's authorization of the app."""
        kind, value = (("refresh_token", tokens.refresh_token) if tokens.refresh_token
                       else ("access_token", tokens.access_token))
        if not value:
            return RevocationResult(True, "nothing to revoke", method="apple_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s, data={
                                      "client_id": self.options.client_id,
                                      "client_secret": self.client_secret,
                                      "token": value, "token_type_hint": kind})
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or "revoke failed", method="apple_revoke")
        if response.status_code == 200:
            # Apple answers 200 also for a token that was already invalid.
            return RevocationResult(True, "revoked", method="apple_revoke", revoked=[kind])
        if transient(response):
            return RevocationResult(False, f"{kind}: HTTP {response.status_code}",
                                    method="apple_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        body = body_of(response, "revoke")
        error = body.get("error") if isinstance(body, dict) else None
        return RevocationResult(False, f"{kind}: HTTP {response.status_code} error={short(error)}",
                                method="apple_revoke")

    async def validate_grant(self, tokens: TokenSet) -> TokenCheck:
        """Apple's one documented check: a refresh_token grant (at most about once a day)."""
        if not tokens.refresh_token:
            return TokenCheck(active=False, method="refresh_token_grant")
        meta = await self.metadata()
        response = await send(self.http, "POST", meta["token_endpoint"], what="validation",
                              timeout=self.policy.timeout_s, data={
                                  "client_id": self.options.client_id,
                                  "client_secret": self.client_secret,
                                  "grant_type": "refresh_token",
                                  "refresh_token": tokens.refresh_token})
        if transient(response):
            raise UpstreamUnavailable(detail=f"validation: HTTP {response.status_code}")
        body = object_of(response, "validation")
        if response.status_code == 400 and body.get("error") == "invalid_grant":
            return TokenCheck(active=False, method="refresh_token_grant")
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise UpstreamProtocolError(detail=f"validation: HTTP {response.status_code} "
                                               f"error={short(body.get('error'))}")
        return TokenCheck(active=True, method="refresh_token_grant")

    async def validate_token(self, access_token: str) -> TokenCheck:
        raise ConfigurationError("Apple offers no check of an access token",
                                 detail="apple: validation needs the refresh token")


def _name_of(raw: str | None) -> dict[str, str]:
    """The first-login ``user`` JSON: ``{"name": {"firstName", "lastName"}, "email"}``. Only the
    name is taken from it (the email is the ID token's, which Apple signs)."""
    if not raw or len(raw) > 4096:
        return {}
    try:
        user = json.loads(raw)
    except ValueError:
        return {}
    name = user.get("name") if isinstance(user, dict) else None
    if not isinstance(name, dict):
        return {}
    given, family = name.get("firstName"), name.get("lastName")
    out = {k: v.strip()[:150] for k, v in (("given_name", given), ("family_name", family))
           if isinstance(v, str) and v.strip()}
    full = " ".join(out[k] for k in ("given_name", "family_name") if k in out)
    return {**out, "name": full} if full else {}


CONNECTOR = AppleConnector
