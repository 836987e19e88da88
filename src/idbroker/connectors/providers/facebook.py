"""Facebook Login (Auth0 ``strategy: "facebook"``): the manual OAuth flow and the Graph API.

Facebook specifics (developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow,
.../access-tokens, .../graph-api/securing-requests): versioned endpoints; the code exchange and
the long-lived token exchange (``grant_type=fb_exchange_token``) are GET requests; there are
no refresh tokens; every Graph call carries ``appsecret_proof`` = HMAC-SHA256(app secret,
access token); ``debug_token`` inspects a user token with the app token ``{app_id}|{secret}``;
``DELETE /me/permissions`` de-authorizes the app. Errors are
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``. The Graph API says
nothing about whether ``email`` was verified, so it is never marked verified here.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from pydantic import Field

from idbroker.clock import now_s
from idbroker.connectors.base import (
    ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    expires_at, upstream_params,
)
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import body_of, object_of, send, short, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamError, UpstreamProtocolError,
    UpstreamTokenRejected,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="facebook", display_name="Facebook", protocol="oauth2",
    default_scopes=("email", "public_profile"), offline_params={},
    supports_refresh=True,
    refresh_method="no refresh tokens; a live token is exchanged for a long-lived one "
                   "(`fb_exchange_token`), at login and by the connector's refresh "
                   "and on read when the stored token nears expiry",
    supports_revocation=True,
    revocation_method="DELETE https://graph.facebook.com/{version}/me/permissions",
    validation_method="debug_token",
    email_trust="never: Graph API does not say whether the email was verified",
)
ISSUER = "https://www.facebook.com"
GRAPH = "https://graph.facebook.com"
PROFILE_FIELDS = "id,name,email,first_name,last_name,picture"
DEFAULT_API_VERSION = "v21.0"
# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling).
_EXPIRED_OR_INVALID = 190  # OAuthException: token expired, revoked, password changed
_TRANSIENT = frozenset({2, 4, 17, 32, 341, 613})  # service down, rate limits
_PERMISSION = frozenset({10, *range(200, 300)})


class FacebookOptions(ConnectorOptions):
    # Pinned so an upstream default-version change never alters what idbroker receives.
    api_version: str = Field(DEFAULT_API_VERSION, pattern=r"^v\d{1,2}\.\d$")
    # Trade the login's short-lived token (hours) for a long-lived one (about 60 days).
    exchange_long_lived: bool = True


class FacebookConnector(ProviderConnector):
    strategy: ClassVar[str] = "facebook"
    spec: ClassVar[ProviderSpec] = SPEC
    # Facebook issues no refresh tokens: a token is renewed by exchanging the access token
    # itself for a long-lived one (fb_exchange_token), so refresh needs no refresh token.
    renews_with_access_token: ClassVar[bool] = True
    Options: ClassVar[type[FacebookOptions]] = FacebookOptions
    options: FacebookOptions

    def _url(self, path: str) -> str:
        return f"{GRAPH}/{self.options.api_version}{path}"

    def _secret(self) -> str:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for facebook")
        return self.client_secret

    def appsecret_proof(self, access_token: str) -> str:
        return hmac.new(self._secret().encode(), access_token.encode(), hashlib.sha256).hexdigest()

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "state": request.state,
            "response_type": "code",
            "scope": ",".join(self.scopes(request.extra_scopes)),
        }
        if request.request_params.get("prompt") == "login":
            params["auth_type"] = "reauthenticate"
        return f"https://www.facebook.com/{self.options.api_version}/dialog/oauth?" \
            + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        # error=access_denied&error_reason=user_denied is a refusal. The code is redeemed
        # by a GET with the credentials in the query, and no grant_type.
        tokens = await self._token_call(self.code_grant_request(
            callback, ("client_id", "redirect_uri", "client_secret", "code"),
            secret=self._secret), "token")
        if self.options.exchange_long_lived:
            tokens = await self._exchange(tokens.access_token or "", "long-lived exchange")
        me = await self._graph_object("GET", "/me", tokens.access_token or "", "profile",
                                      {"fields": PROFILE_FIELDS})
        subject = me.get("id")
        if not isinstance(subject, str) or not subject.isdigit() or len(subject) > 64:
            raise UpstreamProtocolError(detail="profile: no numeric string id")
        picture = me.get("picture")
        picture_url = picture.get("data", {}).get("url") if isinstance(picture, dict) else None
        profile = profile_from_claims({k: v for k, v in {
            "sub": subject, "name": me.get("name"), "given_name": me.get("first_name"),
            "family_name": me.get("last_name"), "email": me.get("email"),
            "picture": picture_url if isinstance(picture_url, str) else None,
            "email_verified": False,  # see the module docstring
        }.items() if v is not None})
        return UpstreamLogin(issuer=ISSUER, subject=subject, profile=profile, tokens=tokens)

    # --- tokens -------------------------------------------------------------------------------

    async def _exchange(self, access_token: str, what: str) -> TokenSet:
        return await self._token_call({
            "grant_type": "fb_exchange_token", "client_id": self.options.client_id,
            "client_secret": self._secret(), "fb_exchange_token": access_token}, what)

    async def _token_call(self, query: dict[str, str], what: str) -> TokenSet:
        response = await send(self.http, "GET", self._url("/oauth/access_token"), what=what,
                              timeout=self.policy.timeout_s, params=query)
        body = _checked(response, what)
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise UpstreamProtocolError(detail=f"{what}: no access_token")
        token_type = body.get("token_type", "bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamProtocolError(detail=f"{what}: token_type is not bearer")
        return TokenSet(access_token=access_token, token_type="Bearer",
                        expires_at=expires_at(body, now_s()))

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        """No refresh tokens at Facebook: a still-valid token is exchanged for a long-lived
        one. An expired token cannot be exchanged; the person must sign in again."""
        if not access_token:
            raise UpstreamTokenRejected(detail="refresh: no access token to exchange")
        return await self._exchange(access_token, "refresh")

    # --- Graph calls --------------------------------------------------------------------------

    async def _graph(self, method: str, path: str, token: str, what: str,
                     extra: dict[str, str] | None = None) -> httpx.Response:
        query = {**(extra or {}), "access_token": token,
                 "appsecret_proof": self.appsecret_proof(token)}
        return await send(self.http, method, self._url(path), what=what,
                          timeout=self.policy.timeout_s, params=query)

    async def _graph_object(self, method: str, path: str, token: str, what: str,
                            extra: dict[str, str] | None = None) -> dict[str, Any]:
        return _checked(await self._graph(method, path, token, what, extra), what)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="facebook_permissions")
        try:
            response = await self._graph("DELETE", "/me/permissions", tokens.access_token,
                                         "revoke")
            body = _checked(response, "revoke")
        except UpstreamTokenRejected:
            # Code 190: the token is already dead (expired, or the user removed the app).
            return RevocationResult(True, "already invalid", method="facebook_permissions")
        except UpstreamRetryLater as exc:
            return RevocationResult(False, exc.detail or "revoke", method="facebook_permissions",
                                    retry_after_s=exc.retry_after_s)
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description,
                                    method="facebook_permissions")
        if body.get("success") is not True:
            return RevocationResult(False, "revoke: success is not true",
                                    method="facebook_permissions")
        return RevocationResult(True, "revoked", method="facebook_permissions",
                                revoked=["access_token"])

    async def validate_token(self, access_token: str) -> TokenCheck:
        app_token = f"{self.options.client_id}|{self._secret()}"
        body = _checked(await self._graph("GET", "/debug_token", app_token, "debug_token",
                                          {"input_token": access_token}), "debug_token")
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("is_valid"), bool):
            raise UpstreamProtocolError(detail="debug_token: no data.is_valid")
        if not data["is_valid"]:
            return TokenCheck(active=False, method="debug_token")
        if str(data.get("app_id")) != self.options.client_id:
            raise UpstreamProtocolError(detail="debug_token: token of another app")
        scopes, exp = data.get("scopes"), data.get("expires_at")
        return TokenCheck(
            active=True, method="debug_token",
            scope=" ".join(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list)
            else None,
            # expires_at 0 means "never expires" (e.g. a token with no expiry).
            exp=exp if isinstance(exp, int) and not isinstance(exp, bool) and exp > 0 else None)


def _checked(response: httpx.Response, what: str) -> dict[str, Any]:
    """The body of a 2xx Graph answer; a Graph error becomes a typed upstream error."""
    if response.status_code >= 500 and body_of(response, what) is None:
        raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}")
    body = object_of(response, what)
    error = body.get("error")
    if 200 <= response.status_code < 300 and error is None:
        return body
    code = error.get("code") if isinstance(error, dict) else None
    if code == _EXPIRED_OR_INVALID:
        raise UpstreamTokenRejected(detail=f"{what}: code 190")
    # Code 1 is "unknown error", except as an OAuthException ("Error validating client
    # secret"), which retrying cannot fix.
    unknown = code == 1 and isinstance(error, dict) and error.get("type") != "OAuthException"
    if code in _TRANSIENT or unknown or transient(response):
        raise UpstreamRetryLater(detail=f"{what}: code {short(code)}",
                                 retry_after_s=retry_after(response.headers.get("retry-after")))
    if code in _PERMISSION:
        raise UpstreamDenied(detail=f"{what}: code {code}")
    raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code} code {short(code)}")



CONNECTOR = FacebookConnector
