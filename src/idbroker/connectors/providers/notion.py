"""Sign in with Notion (``strategy: "notion"``; Auth0 has no built-in Notion strategy): a
public integration's OAuth flow.

Notion specifics (developers.notion.com, "Authorization", "Create a token", "Refresh a
token", "Revoke a token", "Introspect a token"): the authorize URL is on api.notion.com and
takes ``owner=user`` and no ``scope`` (an integration's capabilities are set in its settings,
and the person picks the pages); every OAuth endpoint takes the client credentials as HTTP
Basic auth and a JSON body, and wants a ``Notion-Version`` header; the token response has no
profile call behind it: it carries ``owner.user`` (``id``, ``name``, ``avatar_url``,
``person.email``) next to ``bot_id`` and the workspace; a refresh returns a new access token
AND a new refresh token (rotation). The token response documents no ``expires_in``. Errors
are ``{"error", "error_description"}`` at the token endpoint, ``{"object": "error",
"status", "code", "message"}`` elsewhere.
"""

from __future__ import annotations

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
    strategy="notion", display_name="Notion", protocol="oauth2",
    default_scopes=(), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant (JSON body, Basic auth); rotated on every refresh; "
                   "no documented lifetime, so refreshed after the assumed lifetime",
    supports_revocation=True,
    revocation_method="POST https://api.notion.com/v1/oauth/revoke",
    validation_method="introspection",
    email_trust="never: `owner.user.person.email` carries no verification flag",
    rotates_refresh_tokens=True,
    notes=("Notion has no OAuth scopes: `scope` and `connection_scope` are not sent.",),
)
ISSUER = "https://api.notion.com"
API = "https://api.notion.com/v1/oauth"
DEFAULT_VERSION = "2025-09-03"
_DEAD = frozenset({"invalid_grant", "unauthorized"})


class NotionOptions(ConnectorOptions):
    # Pinned so that a change of Notion's default version never changes what we receive.
    notion_version: str = Field(DEFAULT_VERSION, pattern=r"^\d{4}-\d{2}-\d{2}$")


class NotionConnector(ProviderConnector):
    strategy: ClassVar[str] = "notion"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[NotionOptions]] = NotionOptions
    options: NotionOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return []  # Notion has no OAuth scopes

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id,
            "response_type": "code",
            "owner": "user",
            "redirect_uri": request.callback_url,
            "state": request.state,
        }
        return f"{API}/authorize?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        body = await self._token_call(self.code_grant_request(callback), "token")
        tokens = _token_set(body, "token")
        owner = body.get("owner")
        user = owner.get("user") if isinstance(owner, dict) else None
        if not isinstance(owner, dict) or owner.get("type") != "user" \
                or not isinstance(user, dict):
            # A workspace-owned grant names no person: nobody to sign in.
            raise UpstreamProtocolError(detail="token: owner is not a user")
        subject = user.get("id")
        if not isinstance(subject, str) or not subject or len(subject) > 64:
            raise UpstreamProtocolError(detail="token: owner.user.id missing")
        person = user.get("person")
        email = person.get("email") if isinstance(person, dict) else None
        claims: dict[str, Any] = {
            "sub": subject, "name": user.get("name"), "picture": user.get("avatar_url"),
            "email": email if isinstance(email, str) else None, "email_verified": False,
            "workspace_id": body.get("workspace_id"), "workspace_name": body.get("workspace_name"),
            "bot_id": body.get("bot_id")}
        profile = profile_from_claims({k: v for k, v in claims.items() if v is not None})
        return UpstreamLogin(issuer=ISSUER, subject=subject, profile=profile, tokens=tokens)

    # --- OAuth endpoints (Basic client auth, JSON bodies) -------------------------------------

    def _auth(self) -> httpx.BasicAuth:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for notion")
        return httpx.BasicAuth(self.options.client_id, self.client_secret)

    async def _post(self, path: str, body: dict[str, str], what: str) -> httpx.Response:
        return await send(self.http, "POST", f"{API}/{path}", what=what,
                          timeout=self.policy.timeout_s, json=body, auth=self._auth(),
                          headers={"Notion-Version": self.options.notion_version})

    async def _token_call(self, data: dict[str, str], what: str) -> dict[str, Any]:
        response = await self._post("token", data, what)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code == 200:
            return body
        code = _error_code(body)
        if code in _DEAD:
            raise UpstreamTokenRejected(detail=f"{what}: {code}")
        if code in ("invalid_client", "unauthorized_client") or response.status_code == 401:
            raise UpstreamDenied(detail=f"{what}: {short(code)}")
        raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code} {short(code)}")

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        body = await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")
        return _token_set(body, "refresh")

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Revoking the access token removes the person's authorization of the integration."""
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="notion_revoke")
        try:
            response = await self._post("revoke", {"token": tokens.access_token}, "revoke")
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description, method="notion_revoke")
        status = response.status_code
        if status == 200:
            return RevocationResult(True, "revoked", method="notion_revoke",
                                    revoked=["access_token", "refresh_token"])
        if transient(response):
            return RevocationResult(False, f"revoke: HTTP {status}", method="notion_revoke",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        try:
            code = _error_code(object_of(response, "revoke"))
        except UpstreamProtocolError:
            code = None
        if code in _DEAD:
            return RevocationResult(True, "already invalid", method="notion_revoke")
        return RevocationResult(False, f"revoke: HTTP {status} {short(code)}",
                                method="notion_revoke")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await self._post("introspect", {"token": access_token}, "introspection")
        if transient(response):
            raise UpstreamUnavailable(detail=f"introspection: HTTP {response.status_code}")
        body = object_of(response, "introspection")
        if response.status_code != 200 or not isinstance(body.get("active"), bool):
            raise UpstreamProtocolError(detail=f"introspection: HTTP {response.status_code}")
        if not body["active"]:
            return TokenCheck(active=False, method="introspection")
        return TokenCheck(active=True, method="introspection",
                          scope=" ".join(scope_list(body.get("scope"))) or None)


def _error_code(body: dict[str, Any]) -> str | None:
    code = body.get("error") if isinstance(body.get("error"), str) else body.get("code")
    return code[:64] if isinstance(code, str) else None


def _token_set(body: dict[str, Any], what: str) -> TokenSet:
    access_token, token_type = body.get("access_token"), body.get("token_type", "bearer")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamProtocolError(detail=f"{what}: no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise UpstreamProtocolError(detail=f"{what}: token_type is not bearer")
    refresh = body.get("refresh_token")
    return TokenSet(access_token=access_token,
                    refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                    token_type="Bearer", expires_at=expires_at(body, now_s()))


CONNECTOR = NotionConnector
