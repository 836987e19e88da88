"""Sign in with Strava (``strategy: "strava"``; Auth0 has no built-in Strava strategy).

Strava specifics (developers.strava.com/docs/authentication, /docs/reference): the
authorize page takes ``approval_prompt`` (``auto`` | ``force``) and comma-separated scopes, and
sends back the scopes the athlete accepted in the callback's ``scope``; the token endpoint
takes the client credentials in the form body and answers with ``expires_at`` (epoch) next to
``expires_in`` and, at code exchange, the ``athlete`` summary (so login needs no profile
call); every grant has a refresh token (access tokens live 6 hours) and a refresh may
return a new refresh token, which replaces the old one. Errors are Strava "faults":
``{"message", "errors": [{"resource", "field", "code"}]}``. ``POST /oauth/deauthorize``
ends every token of the app for the athlete. Strava never gives out an email address.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from idbroker.clock import now_s
from idbroker.connectors.base import (
    ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    expires_at, upstream_params,
)
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import object_of, scope_list, send, transient
from idbroker.connectors.refresh import UpstreamRetryLater
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamError, UpstreamProtocolError,
    UpstreamTokenRejected, UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

SPEC = ProviderSpec(
    strategy="strava", display_name="Strava", protocol="oauth2",
    default_scopes=("read",), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant (every grant has one; access tokens live 6 hours); "
                   "the refresh token may change on refresh and is then replaced",
    supports_revocation=True,
    revocation_method="POST https://www.strava.com/oauth/deauthorize",
    validation_method="athlete",
    email_trust="never: Strava gives out no email address",
    rotates_refresh_tokens=True,
)
ISSUER = "https://www.strava.com"
AUTHORIZE_URL = "https://www.strava.com/oauth/authorize"
TOKEN_URL = "https://www.strava.com/oauth/token"
DEAUTHORIZE_URL = "https://www.strava.com/oauth/deauthorize"
ATHLETE_URL = "https://www.strava.com/api/v3/athlete"
_PROFILE_EXTRA = ("city", "state", "country", "sex")


class StravaOptions(ConnectorOptions):
    # "force" shows the consent page on every login; "auto" only when not yet granted.
    approval_prompt: Literal["auto", "force"] = "auto"


class StravaConnector(ProviderConnector):
    strategy: ClassVar[str] = "strava"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[StravaOptions]] = StravaOptions
    options: StravaOptions

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        force = request.request_params.get("prompt") in ("login", "consent")
        params = {
            **upstream_params(self.options, request.request_params),
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "response_type": "code",
            "approval_prompt": "force" if force else self.options.approval_prompt,
            "scope": ",".join(self.scopes(request.extra_scopes)),
            "state": request.state,
        }
        return AUTHORIZE_URL + "?" + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        # Strava's token request has no redirect_uri.
        body = await self._token_call(self.code_grant_request(callback, ("grant_type", "code")),
                                      "token")
        tokens = _token_set(body, "token")
        # The athlete may untick scopes on the consent page: keep what was really granted.
        tokens.scope = scope_list(callback.params.get("scope"), ",")
        athlete = body.get("athlete")
        if not isinstance(athlete, dict):
            raise UpstreamProtocolError(detail="token: no athlete")
        subject = athlete.get("id")
        if isinstance(subject, bool) or not isinstance(subject, int):
            raise UpstreamProtocolError(detail="token: athlete.id is not an integer")
        first, last = athlete.get("firstname"), athlete.get("lastname")
        full = " ".join(p for p in (first, last) if isinstance(p, str) and p) or None
        claims: dict[str, Any] = {"sub": str(subject), "name": full, "given_name": first,
                                  "family_name": last, "nickname": athlete.get("username"),
                                  "picture": athlete.get("profile")}
        claims.update({k: athlete[k] for k in _PROFILE_EXTRA
                       if isinstance(athlete.get(k), str) and athlete[k]})
        profile = profile_from_claims({k: v for k, v in claims.items() if v is not None})
        return UpstreamLogin(issuer=ISSUER, subject=str(subject), profile=profile,
                             tokens=tokens)

    # --- token endpoint ---------------------------------------------------------------------

    def _secret(self) -> str:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for strava")
        return self.client_secret

    async def _token_call(self, data: dict[str, str], what: str) -> dict[str, Any]:
        form = {"client_id": self.options.client_id, "client_secret": self._secret(), **data}
        response = await send(self.http, "POST", TOKEN_URL, what=what,
                              timeout=self.policy.timeout_s, data=form)
        if transient(response):
            raise UpstreamRetryLater(detail=f"{what}: HTTP {response.status_code}",
                                     retry_after_s=retry_after(response.headers.get("retry-after")))
        body = object_of(response, what)
        if response.status_code == 200:
            return body
        fields = _fault_fields(body)
        if {"code", "refresh_token"} & fields:
            raise UpstreamTokenRejected(detail=f"{what}: {sorted(fields)} invalid")
        if response.status_code in (400, 401) and {"client_id", "client_secret"} & fields:
            raise UpstreamDenied(detail=f"{what}: client credentials refused")
        raise UpstreamProtocolError(detail=f"{what}: HTTP {response.status_code}")

    async def refresh_tokens(self, refresh_token: str | None, *, access_token: str | None,
                             subject: str, timeout: float) -> TokenSet:
        if not refresh_token:
            raise UpstreamTokenRejected(detail="refresh: no refresh token")
        body = await self._token_call({"grant_type": "refresh_token",
                                       "refresh_token": refresh_token}, "refresh")
        return _token_set(body, "refresh")

    # --- termination and validation -----------------------------------------------------------

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Deauthorization ends every access and refresh token of this app for the athlete.
        It needs a live access token; an expired one is refreshed by the lifecycle first."""
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="strava_deauthorize")
        try:
            response = await send(self.http, "POST", DEAUTHORIZE_URL, what="revoke",
                                  timeout=self.policy.timeout_s,
                                  data={"access_token": tokens.access_token})
        except UpstreamError as exc:
            return RevocationResult(False, exc.detail or exc.description,
                                    method="strava_deauthorize")
        status = response.status_code
        if status == 200:
            return RevocationResult(True, "revoked", method="strava_deauthorize",
                                    revoked=["access_token", "refresh_token"])
        if status == 401:
            return RevocationResult(True, "already invalid", method="strava_deauthorize")
        return RevocationResult(False, f"deauthorize: HTTP {status}",
                                method="strava_deauthorize",
                                retry_after_s=retry_after(response.headers.get("retry-after"))
                                if transient(response) else None)

    async def validate_token(self, access_token: str) -> TokenCheck:
        """Strava has no introspection: the token is live when it can read the athlete."""
        response = await send(self.http, "GET", ATHLETE_URL, what="athlete",
                              timeout=self.policy.timeout_s,
                              headers={"Authorization": f"Bearer {access_token}"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"athlete: HTTP {response.status_code}")
        if response.status_code == 401:
            return TokenCheck(active=False, method="athlete")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"athlete: HTTP {response.status_code}")
        object_of(response, "athlete")
        return TokenCheck(active=True, method="athlete")


def _fault_fields(body: dict[str, Any]) -> set[str]:
    errors = body.get("errors")
    if not isinstance(errors, list):
        return set()
    return {e["field"] for e in errors if isinstance(e, dict) and isinstance(e.get("field"), str)}


def _token_set(body: dict[str, Any], what: str) -> TokenSet:
    access_token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamProtocolError(detail=f"{what}: no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise UpstreamProtocolError(detail=f"{what}: token_type is not Bearer")
    refresh = body.get("refresh_token")
    at = body.get("expires_at")
    # expires_at is Strava's own absolute expiry; expires_in is the fallback.
    absolute = at if isinstance(at, int) and not isinstance(at, bool) and at > 0 else None
    return TokenSet(access_token=access_token,
                    refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                    token_type="Bearer", expires_at=absolute or expires_at(body, now_s()))


CONNECTOR = StravaConnector
