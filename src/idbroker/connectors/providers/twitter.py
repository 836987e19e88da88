"""Sign in with X (Twitter) over OAuth 1.0a (Auth0 ``strategy: "twitter"``).

X specifics (developer.x.com, "Obtaining user access tokens (3-legged OAuth)", "POST
oauth/request_token", "GET oauth/authenticate", "POST oauth/access_token", "GET
account/verify_credentials", "POST oauth/invalidate_token", "Callback URLs"):

- every call is signed with HMAC-SHA1 (RFC 5849) by the consumer key and secret (the
  connection's ``client_id`` and ``client_secret``) and, after the first step, a token and
  its secret (connectors/oauth1_signing.py);
- ``POST oauth/request_token`` with ``oauth_callback`` answers a form-encoded request token,
  its secret and ``oauth_callback_confirmed=true``; the person is sent to
  ``oauth/authenticate?oauth_token=...``; X sends them back to ``oauth_callback`` with
  ``oauth_token`` and ``oauth_verifier``, or with ``denied=<request token>``;
- OAuth 1.0a has no ``state``: idbroker's own ``state`` rides in the query of
  ``oauth_callback`` (X allows query strings there; the allow-listed callback URL is
  ``{issuer}login/callback`` without one), so the usual transaction lookup and browser
  binding apply; the request token that comes back must be the one this login was given;
- ``POST oauth/access_token`` (signed with the request token and the verifier) answers the
  access token, its secret, ``user_id`` and ``screen_name``; access tokens do not expire and
  there is no refresh;
- ``GET 1.1/account/verify_credentials.json?include_email=true`` gives the profile; X returns
  ``email`` only when the address is verified (and the app has the email permission);
- errors are ``{"errors": [{"code": 32, "message": "Could not authenticate you."}]}`` (a bad
  signature) or code 89 ("Invalid or expired token.") with HTTP 401.
"""

from __future__ import annotations

import hmac
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import httpx

from idbroker.connectors.base import (
    ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    UpstreamStart, upstream_params,
)
from idbroker.connectors.oauth1_signing import OAuth1Signer
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.connector_base import ProviderConnector
from idbroker.connectors.providers.wire import body_of, object_of, send, transient
from idbroker.connectors.revocation import RevocationResult, retry_after
from idbroker.connectors.upstream_http import MAX_BODY_BYTES
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamError, UpstreamProtocolError,
    UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet, UpstreamProfile

SPEC = ProviderSpec(
    strategy="twitter", display_name="X (Twitter) OAuth 1.0a", protocol="oauth1",
    default_scopes=(), offline_params={},
    supports_refresh=False,
    refresh_method="OAuth 1.0a access tokens do not expire; there is nothing to refresh",
    supports_revocation=True,
    revocation_method="POST https://api.twitter.com/1.1/oauth/invalidate_token (signed with "
                      "the access token and its secret)",
    validation_method="verify_credentials",
    email_trust="`email` of `account/verify_credentials` (X returns only a verified address, "
                "and only to apps with the email permission)",
    notes=("The identity's tokens are `access_token` and `access_token_secret` (no refresh "
           "token, no expiry).",),
)
ISSUER = "https://twitter.com"
API = "https://api.twitter.com"
REQUEST_TOKEN_URL = f"{API}/oauth/request_token"
AUTHENTICATE_URL = f"{API}/oauth/authenticate"
ACCESS_TOKEN_URL = f"{API}/oauth/access_token"
VERIFY_URL = f"{API}/1.1/account/verify_credentials.json"
INVALIDATE_URL = f"{API}/1.1/oauth/invalidate_token"
# X error codes (HTTP 401): the token is dead (89) or the signature did not verify (32).
INVALID_TOKEN = 89
_PROFILE_EXTRA = ("screen_name", "description", "location", "url", "verified", "lang")


class TwitterOptions(ConnectorOptions):
    pass


class TwitterConnector(ProviderConnector):
    strategy: ClassVar[str] = "twitter"
    spec: ClassVar[ProviderSpec] = SPEC
    Options: ClassVar[type[TwitterOptions]] = TwitterOptions
    options: TwitterOptions

    def scopes(self, extra: list[str]) -> list[str]:
        return []  # OAuth 1.0a has no scopes: the app's permission level decides

    def _signer(self, **kwargs: str | None) -> OAuth1Signer:
        if not self.client_secret:
            raise ConfigurationError("options.client_secret is required for twitter")
        return OAuth1Signer(self.options.client_id, self.client_secret, **kwargs)

    # --- the three legs -----------------------------------------------------------------------

    async def begin_authorization(self, request: UpstreamAuthorization) -> UpstreamStart:
        callback = request.callback_url + "?" + urlencode({"state": request.state})
        response = await send(self.http, "POST", REQUEST_TOKEN_URL, what="request_token",
                              timeout=self.policy.timeout_s, auth=self._signer(callback=callback))
        if transient(response):
            raise UpstreamUnavailable(detail=f"request_token: HTTP {response.status_code}")
        if response.status_code == 403:
            # Code 415: the callback URL is not on the app's allow list.
            raise ConfigurationError("X refused the callback URL: add {issuer}login/callback "
                                     "to the X app's callback URLs",
                                     detail="request_token: HTTP 403")
        if response.status_code != 200:
            raise UpstreamDenied(detail=f"request_token: HTTP {response.status_code}"
                                        f"{_error_codes(response)}")
        form = _form(response, "request_token")
        token, secret = form.get("oauth_token"), form.get("oauth_token_secret")
        if not token or not secret or form.get("oauth_callback_confirmed") != "true":
            raise UpstreamProtocolError(detail="request_token: no token, secret or "
                                               "oauth_callback_confirmed=true")
        params = {**upstream_params(self.options, request.request_params), "oauth_token": token}
        if request.request_params.get("prompt") == "login":
            params["force_login"] = "true"
        return UpstreamStart(url=AUTHENTICATE_URL + "?" + urlencode(params),
                             connector_state={"request_token": token,
                                              "request_token_secret": secret})

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        params = callback.params
        if "denied" in params:
            raise UpstreamDenied(detail="authenticate: denied")
        token, verifier = params.get("oauth_token"), params.get("oauth_verifier")
        if not token or not verifier:
            raise UpstreamProtocolError(detail="authenticate: no oauth_token or oauth_verifier")
        expected = callback.connector_state.get("request_token", "")
        secret = callback.connector_state.get("request_token_secret", "")
        if not expected or not secret or not hmac.compare_digest(token.encode(),
                                                                 expected.encode()):
            # Someone else's request token pasted into this browser's callback.
            raise UpstreamProtocolError(detail="authenticate: oauth_token is not this login's")
        response = await send(self.http, "POST", ACCESS_TOKEN_URL, what="token",
                              timeout=self.policy.timeout_s,
                              auth=self._signer(token=token, token_secret=secret,
                                                verifier=verifier))
        if transient(response):
            raise UpstreamUnavailable(detail=f"access_token: HTTP {response.status_code}")
        if response.status_code != 200:
            # 401: a wrong or used verifier, or a wrong consumer secret.
            raise UpstreamDenied(detail=f"access_token: HTTP {response.status_code}"
                                        f"{_error_codes(response)}")
        form = _form(response, "access_token")
        access_token, access_secret = form.get("oauth_token"), form.get("oauth_token_secret")
        if not access_token or not access_secret:
            raise UpstreamProtocolError(detail="access_token: no token or secret")
        tokens = TokenSet(access_token=access_token, access_token_secret=access_secret,
                          token_type="OAuth1")
        user = await self._verify_credentials(tokens, include_email=True)
        subject = user.get("id_str")
        if not isinstance(subject, str) or not subject.isascii() or not subject.isdigit() \
                or len(subject) > 32:
            raise UpstreamProtocolError(detail="profile: id_str is not a numeric string")
        if form.get("user_id") not in (None, subject):
            raise UpstreamProtocolError(detail="profile: user differs from the token's user_id")
        return UpstreamLogin(issuer=ISSUER, subject=subject, profile=_profile(user, subject),
                             tokens=tokens)

    # --- the REST API ---------------------------------------------------------------------------

    async def _signed_call(self, method: str, url: str, tokens: TokenSet, what: str,
                           params: dict[str, str] | None = None) -> httpx.Response:
        if not tokens.access_token or not tokens.access_token_secret:
            raise UpstreamProtocolError(detail=f"{what}: no access token and secret stored")
        return await send(self.http, method, url, what=what, timeout=self.policy.timeout_s,
                          params=params, auth=self._signer(token=tokens.access_token,
                                                           token_secret=tokens.access_token_secret))

    async def _verify_credentials(self, tokens: TokenSet, *,
                                  include_email: bool) -> dict[str, Any]:
        params = {"skip_status": "true", "include_entities": "false"}
        if include_email:
            params["include_email"] = "true"
        response = await self._signed_call("GET", VERIFY_URL, tokens, "profile", params)
        if transient(response):
            raise UpstreamUnavailable(detail=f"profile: HTTP {response.status_code}")
        if response.status_code != 200:
            raise UpstreamDenied(detail=f"profile: HTTP {response.status_code}"
                                        f"{_error_codes(response)}")
        return object_of(response, "profile")

    async def revoke_tokens(self, tokens: TokenSet) -> RevocationResult:
        """Invalidating the access token ends the app's access for this person."""
        if not tokens.access_token:
            return RevocationResult(True, "nothing to revoke", method="x_invalidate_token")
        try:
            response = await self._signed_call("POST", INVALIDATE_URL, tokens, "revoke")
        except (UpstreamError, ConfigurationError) as exc:
            return RevocationResult(False, exc.detail or exc.description,
                                    method="x_invalidate_token")
        status = response.status_code
        if status == 200:
            return RevocationResult(True, "revoked", method="x_invalidate_token",
                                    revoked=["access_token"])
        if status == 401 and INVALID_TOKEN in _codes(response):
            return RevocationResult(True, "already invalid", method="x_invalidate_token")
        return RevocationResult(False, f"invalidate_token: HTTP {status}{_error_codes(response)}",
                                method="x_invalidate_token",
                                retry_after_s=retry_after(response.headers.get("retry-after"))
                                if transient(response) else None)

    async def validate_token(self, access_token: str) -> TokenCheck:
        raise ConfigurationError("an X OAuth 1.0a token is checked together with its secret",
                                 detail="twitter: validation needs the access token secret")

    async def validate_grant(self, tokens: TokenSet) -> TokenCheck:
        """A signed ``verify_credentials``: 200 is live, 401 with code 89 is dead; a 401
        with code 32 (signature not verified) says nothing certain about the token."""
        response = await self._signed_call("GET", VERIFY_URL, tokens, "validation",
                                           {"skip_status": "true", "include_entities": "false"})
        if transient(response):
            raise UpstreamUnavailable(detail=f"verify_credentials: HTTP {response.status_code}")
        if response.status_code == 200:
            return TokenCheck(active=True, method="verify_credentials")
        if response.status_code == 401 and INVALID_TOKEN in _codes(response):
            return TokenCheck(active=False, method="verify_credentials")
        raise UpstreamProtocolError(detail=f"verify_credentials: HTTP {response.status_code}"
                                           f"{_error_codes(response)}")


def _form(response: httpx.Response, what: str) -> dict[str, str]:
    """X's OAuth endpoints answer form-encoded text, not JSON."""
    if len(response.content) > MAX_BODY_BYTES:
        raise UpstreamProtocolError(detail=f"{what}: response too large")
    try:
        return dict(parse_qsl(response.content.decode(), strict_parsing=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UpstreamProtocolError(detail=f"{what}: not a form-encoded body") from exc


def _codes(response: httpx.Response) -> list[int]:
    body = body_of(response, "error")
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e["code"] for e in errors[:5] if isinstance(e, dict) and isinstance(e.get("code"), int)
            and not isinstance(e.get("code"), bool)]


def _error_codes(response: httpx.Response) -> str:
    codes = _codes(response)
    return f" codes={codes}" if codes else ""


def _profile(user: dict[str, Any], subject: str) -> UpstreamProfile:
    email = user.get("email")
    claims: dict[str, Any] = {
        "sub": subject, "name": user.get("name"), "nickname": user.get("screen_name"),
        "picture": user.get("profile_image_url_https"),
        # X sends the address only when it is verified (null otherwise).
        "email": email if isinstance(email, str) and email else None,
        "email_verified": isinstance(email, str) and bool(email),
    }
    claims.update({k: user[k] for k in _PROFILE_EXTRA
                   if isinstance(user.get(k), (str, bool)) and user[k] != ""})
    return profile_from_claims({k: v for k, v in claims.items() if v is not None})


CONNECTOR = TwitterConnector
