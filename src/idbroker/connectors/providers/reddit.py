"""Sign in with Reddit (``strategy: "reddit"``; Auth0 has no built-in Reddit strategy).

Reddit specifics (github.com/reddit-archive/reddit/wiki/OAuth2, reddit.com/dev/api): the
authorize page takes ``duration`` — only ``permanent`` yields a refresh token — and
space-separated scopes (``identity`` to read the account); the token endpoint wants HTTP
Basic client credentials and a form body, and reports a bad code or grant as
``{"error": "invalid_grant"}``; every request must carry a descriptive User-Agent (generic
ones are throttled); the API lives on oauth.reddit.com, where ``/api/v1/me`` gives the
account (``id`` is the stable base-36 id, ``name`` can never change but is not the key); no
email address is ever given out. ``/api/v1/revoke_token`` takes a token and a hint and
answers 204 whether or not the token was live; revoking the refresh token ends the grant.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx
from pydantic import Field

from idbroker.connectors.base import (
    ConnectorOptions,
    UpstreamAuthorization,
    UpstreamCallback,
    UpstreamLogin,
    upstream_params,
)
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import bearer_token_set, object_of, send, short, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError,
    UpstreamDenied,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTokenRejected,
    UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="reddit", display_name="Reddit", protocol="oauth2",
    default_scopes=("identity",), offline_params={"duration": "permanent"},
    supports_refresh=True,
    refresh_method="refresh_token grant with Basic client auth; a refresh token only with "
                   "`duration=permanent` (idbroker's default); access tokens live 1 hour",
    supports_revocation=True,
    revocation_method="POST https://www.reddit.com/api/v1/revoke_token (RFC 7009 style)",
    validation_method="identity_probe",
    email_trust="never: Reddit gives out no email address",
)
ISSUER = "https://www.reddit.com"
AUTHORIZE_URL = "https://www.reddit.com/api/v1/authorize"
TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
REVOKE_URL = "https://www.reddit.com/api/v1/revoke_token"
API = "https://oauth.reddit.com"


class RedditOptions(ConnectorOptions):
    # "permanent" is what yields a refresh token; "temporary" tokens die after an hour.
    duration: Literal["permanent", "temporary"] = "permanent"
    # Reddit's rule: "<platform>:<app ID>:<version> (by /u/<username>)"; generic agents
    # (python-httpx/...) are throttled.
    user_agent: str = Field("web:idbroker:v1 (idbroker identity broker)", min_length=8,
                            max_length=256)


class RedditConnector(ProviderConnector):
    strategy: ClassVar[str] = "reddit"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[RedditOptions]] = RedditOptions
    options: RedditOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id,
            "response_type": "code",
            "state": request.state,
            "redirect_uri": request.callback_url,
            "duration": self.options.duration,
            "scope": " ".join(self.scopes(request.extra_scopes)),
        }
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        tokens = await self._token_call(self.code_grant_request(callback), "token")
        # raw_json=1: without it Reddit HTML-escapes the "&" in image URLs.
        me = await self._api_object("/api/v1/me?raw_json=1", tokens.access_token or "",
                                    "profile")
        subject = me.get("id")
        if not isinstance(subject, str) or not subject.isalnum() or len(subject) > 32:
            raise UpstreamProtocolError(detail="profile: no base-36 id")
        icon = me.get("snoovatar_img") or me.get("icon_img")
        claims: dict[str, Any] = {"sub": subject, "nickname": me.get("name"),
                                  "name": me.get("name"), "preferred_username": me.get("name"),
                                  "picture": icon if isinstance(icon, str) and icon else None}
        profile = profile_from_claims({k: v for k, v in claims.items() if v is not None})
        return UpstreamLogin(issuer=ISSUER, subject=subject, profile=profile, tokens=tokens)

    # --- token endpoint ---------------------------------------------------------------------

    def _auth(self) -> httpx.BasicAuth:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for reddit")
        return httpx.BasicAuth(self.options.client_id, self.client_secret)

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": self.options.user_agent}

    async def _token_call(self, data: dict[str, str], what: str) -> TokenSet:
        response = await send(self.http, "POST", TOKEN_URL, what=what, data=data,
                              timeout=self.policy.timeout_s, auth=self._auth(),
                              headers=self._headers())
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        if response.status_code == 401:
            raise UpstreamDenied(detail=f"{what}: client credentials refused")
        body = object_of(response, what)
        error = body.get("error")
        if error is not None:
            # Reddit may send the error member with HTTP 200 as well as with 400.
            if error == "invalid_grant":
                raise UpstreamTokenRejected(detail=f"{what}: invalid_grant")
            raise UpstreamProtocolError(detail=f"{what}: error={short(error)}")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        return bearer_token_set(body, what)

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token (duration=temporary)")
        return await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")

    # --- API ------------------------------------------------------------------------------------

    async def _api(self, path: str, token: str, what: str) -> httpx.Response:
        response = await send(self.http, "GET", API + path, what=what,
                              timeout=self.policy.timeout_s,
                              headers={**self._headers(), "Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"{what}: HTTP {response.status_code}")
        return response

    async def _api_object(self, path: str, token: str, what: str) -> dict[str, Any]:
        response = await self._api(path, token, what)
        if response.status_code in (401, 403):
            raise UpstreamDenied(detail=f"{what}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        return object_of(response, what)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """The refresh token when there is one (it ends the grant and its access tokens),
        else the access token. Reddit answers 204 even for a token it no longer knows."""
        kind = "refresh_token" if tokens.refresh_token else "access_token"
        token = tokens.refresh_token or tokens.access_token
        if not token:
            return RevocationResult(True, "nothing to revoke", method="reddit_revoke")
        try:
            response = await send(self.http, "POST", REVOKE_URL, what="revoke",
                                  timeout=self.policy.timeout_s, auth=self._auth(),
                                  headers=self._headers(),
                                  data={"token": token, "token_type_hint": kind})
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description, method="reddit_revoke")
        status = response.status_code
        if 200 <= status < 300:
            revoked = ["refresh_token", "access_token"] if kind == "refresh_token" \
                else ["access_token"]
            return RevocationResult(True, "revoked", method="reddit_revoke", revoked=revoked)
        return RevocationResult(False, f"revoke: HTTP {status}", method="reddit_revoke",
                                retry_after_s=retry_after(response.headers.get("retry-after"))
                                if transient(response) else None)

    async def validate_token(self, access_token: str) -> TokenCheck:
        """No introspection at Reddit: a probe of an ``identity``-scoped read that is not the
        login's profile call (``/api/v1/me/prefs``, narrowed to one field)."""
        response = await self._api("/api/v1/me/prefs?fields=lang", access_token, "probe")
        if response.status_code in (401, 403):
            return TokenCheck(active=False, method="identity_probe")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"probe: HTTP {response.status_code}")
        return TokenCheck(active=True, method="identity_probe")


CONNECTOR = RedditConnector
