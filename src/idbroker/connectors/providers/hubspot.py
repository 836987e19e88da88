"""Sign in with HubSpot (``strategy: "hubspot"``; Auth0 has no built-in HubSpot strategy).

HubSpot specifics (developers.hubspot.com, "OAuth tokens API" v1 and v3, "Working with
OAuth"): an app is *installed* into a HubSpot account; the authorize page takes a
space-separated ``scope`` (``oauth`` is required of every app) and ``optional_scope``; the
token endpoint takes the client credentials in the form body and answers with a 30-minute
access token and a refresh token that does not rotate; there is no profile endpoint: the
access token's metadata (``GET /oauth/v1/access-tokens/{token}``) names the installing user
(``user_id``, ``user`` = email) and the account (``hub_id``, ``hub_domain``). Validation uses
the v3 introspection endpoint (form body, never the token in a URL). Revocation deletes the
refresh token (``DELETE /oauth/v1/refresh-tokens/{token}``); HubSpot documents that access
tokens already issued live on until they expire. Errors are
``{"status": "BAD_REFRESH_TOKEN", "message"}`` (v1) or ``{"category", "subCategory",
"message", "correlationId"}`` (v3).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from idbroker.clock import now_s
from idbroker.connectors.base import (
    ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    expires_at, upstream_params,
)
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import object_of, scope_list, send, short, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamError, UpstreamProtocolError,
    UpstreamTokenRejected, UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="hubspot", display_name="HubSpot", protocol="oauth2",
    default_scopes=("oauth",), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant (every install has one; access tokens live 30 "
                   "minutes); the refresh token is not rotated",
    supports_revocation=True,
    revocation_method="DELETE https://api.hubapi.com/oauth/v1/refresh-tokens/{token} "
                      "(the access token lives on until it expires)",
    revocation_spares_access_token=True,
    validation_method="introspection",
    email_trust="never: the token metadata's `user` email carries no verification flag",
    notes=("The identity is the HubSpot user, not the account (hub): one user installing "
           "the app in two accounts is one identity; `hub_id` is the last account's.",),
)
ISSUER = "https://app.hubspot.com"
AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
API = "https://api.hubapi.com"
TOKEN_URL = API + "/oauth/v1/token"
INTROSPECT_URL = API + "/oauth/v3/token/introspect"
# v1 "status" values and v3 subCategory values that mean "this code/grant is dead".
_DEAD = frozenset({"BAD_AUTH_CODE", "BAD_REFRESH_TOKEN", "INVALID_TOKEN", "EXPIRED_TOKEN"})
_CLIENT = frozenset({"BAD_CLIENT_ID", "BAD_CLIENT_SECRET", "BAD_REDIRECT_URI",
                     "INVALID_CLIENT", "INVALID_CLIENT_SECRET"})


class HubSpotOptions(ConnectorOptions):
    # Scopes the installer may decline (HubSpot's optional_scope), space-separated.
    optional_scope: str | None = None


class HubSpotConnector(ProviderConnector):
    strategy: ClassVar[str] = "hubspot"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[HubSpotOptions]] = HubSpotOptions
    options: HubSpotOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "scope": " ".join(self.scopes(request.extra_scopes)),
            "state": request.state,
        }
        if self.options.optional_scope:
            params["optional_scope"] = self.options.optional_scope
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        tokens = await self._token_call(
            self.code_grant_request(callback, ("grant_type", "redirect_uri", "code")), "token")
        meta = await self._metadata(tokens.access_token or "")
        subject = meta.get("user_id")
        if isinstance(subject, bool) or not isinstance(subject, int):
            raise UpstreamProtocolError(detail="token metadata: user_id is not an integer")
        if str(meta.get("app_id", "")) == "" or meta.get("token_type") not in (None, "access"):
            raise UpstreamProtocolError(detail="token metadata: not an access token")
        tokens.scope = scope_list(meta.get("scopes")) or tokens.scope
        email = meta.get("user") if isinstance(meta.get("user"), str) else None
        claims: dict[str, Any] = {"sub": str(subject), "email": email, "email_verified": False,
                                  "hub_id": meta.get("hub_id"),
                                  "hub_domain": meta.get("hub_domain")}
        profile = profile_from_claims({k: v for k, v in claims.items() if v is not None})
        return UpstreamLogin(issuer=ISSUER, subject=str(subject), profile=profile,
                             tokens=tokens)

    # --- token endpoint ---------------------------------------------------------------------

    def _secret(self) -> str:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for hubspot")
        return self.client_secret

    def _client(self) -> dict[str, str]:
        return {"client_id": self.options.client_id, "client_secret": self._secret()}

    async def _token_call(self, data: dict[str, str], what: str) -> TokenSet:
        response = await send(self.http, "POST", TOKEN_URL, what=what,
                              timeout=self.policy.timeout_s, data={**data, **self._client()})
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code != 200:
            code = _error_code(body)
            if code in _DEAD:
                raise UpstreamTokenRejected(detail=f"{what}: {code}")
            if code in _CLIENT or response.status_code == 401:
                raise UpstreamDenied(detail=f"{what}: {short(code)}")
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code} "
                                               f"{short(code)}")
        access_token, refresh = body.get("access_token"), body.get("refresh_token")
        if not isinstance(access_token, str) or not access_token:
            raise UpstreamProtocolError(detail=f"{what}: no access_token")
        token_type = body.get("token_type", "bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamProtocolError(detail=f"{what}: token_type is not bearer")
        return TokenSet(access_token=access_token,
                        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                        token_type="Bearer", expires_at=expires_at(body, now_s()),
                        scope=scope_list(body.get("scope")))

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        return await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")

    async def _metadata(self, access_token: str) -> dict[str, Any]:
        response = await send(self.http, "GET",
                              f"{API}/oauth/v1/access-tokens/{quote(access_token, safe='')}",
                              what="token metadata", timeout=self.policy.timeout_s)
        if transient(response):
            raise UpstreamUnavailable(detail=f"token metadata: HTTP {response.status_code}")
        if response.status_code != 200:
            raise UpstreamDenied(detail=f"token metadata: HTTP {response.status_code}")
        return object_of(response, "token metadata")

    # --- termination and validation -----------------------------------------------------------

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        if not tokens.refresh_token:
            # HubSpot cannot revoke an access token; it dies within 30 minutes.
            return RevocationResult(True, "nothing to revoke", method="hubspot_refresh_token")
        url = f"{API}/oauth/v1/refresh-tokens/{quote(tokens.refresh_token, safe='')}"
        try:
            response = await send(self.http, "DELETE", url, what="revoke",
                                  timeout=self.policy.timeout_s)
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or exc.description,
                                    method="hubspot_refresh_token")
        status = response.status_code
        if status in (200, 204):
            return RevocationResult(True, "revoked", method="hubspot_refresh_token",
                                    revoked=["refresh_token"])
        if status in (400, 404):
            return RevocationResult(True, "already invalid", method="hubspot_refresh_token")
        return RevocationResult(False, f"revoke: HTTP {status}", method="hubspot_refresh_token",
                                retry_after_s=retry_after(response.headers.get("retry-after"))
                                if transient(response) else None)

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await send(self.http, "POST", INTROSPECT_URL, what="introspection",
                              timeout=self.policy.timeout_s,
                              data={**self._client(), "token": access_token,
                                    "token_type_hint": "access_token"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"introspection: HTTP {response.status_code}")
        body = object_of(response, "introspection")
        context = body.get("context")
        if response.status_code == 400 and (_error_code(body) in _DEAD or (
                isinstance(context, dict) and "token" in context)):
            # {"category": "VALIDATION_ERROR", "context": {"token": ["Token is invalid"]}}
            return TokenCheck(active=False, method="introspection")
        if response.status_code != 200 or not isinstance(body.get("active"), bool):
            raise UpstreamProtocolError(detail=f"introspection: HTTP {response.status_code}")
        if not body["active"]:
            return TokenCheck(active=False, method="introspection")
        exp = body.get("exp")
        return TokenCheck(active=True, method="introspection",
                          scope=" ".join(scope_list(body.get("scope") or body.get("scopes")))
                          or None,
                          exp=exp if isinstance(exp, int) and not isinstance(exp, bool) else None)


def _error_code(body: dict[str, Any]) -> str | None:
    for key in ("status", "subCategory", "category", "error"):
        value = body.get(key)
        if isinstance(value, str) and value and value != "error":
            return value.upper()[:64]
    return None


CONNECTOR = HubSpotConnector
