"""Sign in with GitHub (Auth0 ``strategy: "github"``): OAuth 2.0 web application flow.

GitHub specifics (docs.github.com, "Authorizing OAuth apps", "REST API: OAuth
authorizations"): the token endpoint answers errors with HTTP 200 and an ``error`` member
(``bad_verification_code``, ``incorrect_client_credentials``, ``redirect_uri_mismatch``,
``bad_refresh_token``); ``scope`` in a token response is comma-separated; the user's numeric
``id`` is the stable identifier (``login`` can be renamed); an email is trusted only as the
``/user/emails`` entry that is both primary and verified; the REST API wants a User-Agent.
Refresh tokens exist only for GitHub Apps with expiring user tokens, and are rotated.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import httpx

from idbroker.clock import now_s
from idbroker.connectors.base import (
    ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    expires_at, upstream_params,
)
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import body_of, object_of, scope_list, send, short, \
    transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.encoding import s256
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamError, UpstreamProtocolError,
    UpstreamTokenRejected, UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="github", display_name="GitHub", protocol="oauth2",
    default_scopes=("read:user", "user:email"), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant, only for GitHub Apps with expiring user tokens "
                   "(rotated); OAuth app tokens do not expire",
    supports_revocation=True,
    revocation_method="DELETE https://api.github.com/applications/{client_id}/grant",
    validation_method="token_check",
    email_trust="`/user/emails` entry that is both `primary` and `verified`",
    rotates_refresh_tokens=True,
    numeric_user_id=True,
)
ISSUER = "https://github.com"
AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
TOKEN_URL = "https://github.com/login/oauth/access_token"
API = "https://api.github.com"
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
               "User-Agent": "idbroker"}
# Token endpoint error codes (HTTP 200): which mean "this grant is dead".
_DEAD_GRANT = frozenset({"bad_verification_code", "bad_refresh_token"})
_PROFILE_EXTRA = ("login", "html_url", "company", "blog", "location", "node_id")


class GitHubOptions(ConnectorOptions):
    pkce: bool = True


class GitHubConnector(ProviderConnector):
    strategy: ClassVar[str] = "github"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[GitHubOptions]] = GitHubOptions
    options: GitHubOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "scope": " ".join(self.scopes(request.extra_scopes)),
            "state": request.state,
        }
        if request.request_params.get("prompt") == "login":
            params["prompt"] = "select_account"
        if self.options.pkce:
            params.update(code_challenge=s256(request.code_verifier), code_challenge_method="S256")
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        # Callback errors (access_denied, redirect_uri_mismatch, application_suspended) are all
        # refusals.
        # GitHub's token request has no grant_type; credentials go in the form.
        data = self.code_grant_request(
            callback, ("client_id", "client_secret", "code", "redirect_uri"),
            pkce=self.options.pkce, secret=self._secret)
        tokens = await self._token_call(data, "token")
        user = await self._api_object("GET", "/user", tokens.access_token or "", "profile")
        subject = user.get("id")
        if isinstance(subject, bool) or not isinstance(subject, int):
            raise UpstreamProtocolError(detail="profile: id is not an integer")
        email, verified = await self._email(tokens.access_token or "", user)
        return UpstreamLogin(issuer=ISSUER, subject=str(subject),
                             profile=_profile(user, str(subject), email, verified), tokens=tokens)

    # --- token endpoint ---------------------------------------------------------------------

    def _secret(self) -> str:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for github")
        return self.client_secret

    async def _token_call(self, data: dict[str, str], what: str) -> TokenSet:
        response = await send(self.http, "POST", TOKEN_URL, what=what,
                              timeout=self.policy.timeout_s, data=data)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        error = body.get("error")
        if error is not None:
            # GitHub reports token endpoint errors with HTTP 200.
            if error in _DEAD_GRANT:
                raise UpstreamTokenRejected(detail=f"{what}: {error}")
            if error in ("incorrect_client_credentials", "redirect_uri_mismatch",
                         "unverified_user_email", "access_denied"):
                raise UpstreamDenied(detail=f"{what}: {error}")
            raise UpstreamProtocolError(detail=f"{what}: error={short(error)}")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        access_token, token_type = body.get("access_token"), body.get("token_type")
        if not isinstance(access_token, str) or not access_token:
            raise UpstreamProtocolError(detail=f"{what}: no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamProtocolError(detail=f"{what}: token_type is not bearer")
        refresh = body.get("refresh_token")
        return TokenSet(access_token=access_token,
                        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                        token_type="Bearer", expires_at=expires_at(body, now_s()),
                        scope=scope_list(body.get("scope"), ","))

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        return await self._token_call({
            "client_id": self.options.client_id, "client_secret": self._secret(),
            "grant_type": "refresh_token", "refresh_token": refresh_token}, "refresh")

    # --- REST API -------------------------------------------------------------------------

    async def _api(self, method: str, path: str, token: str, what: str) -> httpx.Response:
        response = await send(self.http, method, API + path, what=what,
                              timeout=self.policy.timeout_s,
                              headers={**API_HEADERS, "Authorization": f"Bearer {token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"{what}: HTTP {response.status_code}")
        return response

    async def _api_object(self, method: str, path: str, token: str, what: str) -> dict[str, Any]:
        response = await self._api(method, path, token, what)
        if response.status_code == 401:
            raise UpstreamDenied(detail=f"{what}: HTTP 401")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")
        return object_of(response, what)

    async def _email(self, token: str, user: dict[str, Any]) -> tuple[str | None, bool]:
        """The primary verified address; else the public profile email, unverified."""
        response = await self._api("GET", "/user/emails", token, "emails")
        entries = body_of(response, "emails") if response.status_code == 200 else None
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and entry.get("primary") is True \
                        and entry.get("verified") is True and isinstance(entry.get("email"), str):
                    return entry["email"], True
        elif response.status_code not in (200, 403, 404):
            # 404/403: the user:email scope was not granted; anything else is unexpected.
            raise UpstreamProtocolError(detail=f"emails: HTTP {response.status_code}")
        public = user.get("email")
        return (public if isinstance(public, str) and public else None), False

    # --- termination and validation (Basic client auth, JSON body) ------------------------

    def _app_call(self, method: str, path: str, token: str, what: str) -> Any:
        auth = httpx.BasicAuth(self.options.client_id, self._secret())
        return send(self.http, method, f"{API}/applications/{quote(self.options.client_id)}{path}",
                    what=what, timeout=self.policy.timeout_s, json={"access_token": token},
                    headers=API_HEADERS, auth=auth)

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Deleting the grant revokes every token of this app for the user, refresh tokens
        included, and removes the authorization from the user's settings."""
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="github_grant")
        try:
            response = await self._app_call("DELETE", "/grant", tokens.access_token, "revoke")
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description, method="github_grant")
        status = response.status_code
        if status == 204:
            return RevocationResult(True, "revoked", method="github_grant",
                                    revoked=["access_token", "refresh_token"])
        if status == 404:
            return RevocationResult(True, "already invalid", method="github_grant")
        if transient(response) or status == 403 and response.headers.get("retry-after"):
            return RevocationResult(False, f"grant: HTTP {status}", method="github_grant",
                                    retry_after_s=retry_after(response.headers.get("retry-after")))
        return RevocationResult(False, f"grant: HTTP {status}", method="github_grant")

    async def validate_token(self, access_token: str) -> TokenCheck:
        response = await self._app_call("POST", "/token", access_token, "token check")
        if transient(response):
            raise UpstreamUnavailable(detail=f"token check: HTTP {response.status_code}")
        if response.status_code == 404:
            return TokenCheck(active=False, method="token_check")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"token check: HTTP {response.status_code}")
        body = object_of(response, "token check")
        return TokenCheck(active=True, method="token_check",
                          scope=" ".join(scope_list(body.get("scopes"))) or None)


def _profile(user: dict[str, Any], subject: str, email: str | None,
             verified: bool) -> UpstreamProfile:
    claims: dict[str, Any] = {"sub": subject, "nickname": user.get("login"),
                              "name": user.get("name"), "picture": user.get("avatar_url"),
                              "email": email, "email_verified": verified}
    claims.update({k: user[k] for k in _PROFILE_EXTRA
                   if isinstance(user.get(k), str) and user[k]})
    return profile_from_claims({k: v for k, v in claims.items() if v is not None})


CONNECTOR = GitHubConnector
