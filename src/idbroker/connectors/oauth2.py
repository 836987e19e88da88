"""Generic OAuth 2.0 upstream (Auth0 ``strategy: "oauth2"``): no ID token, so the identity
comes from a profile URL read with the access token, mapped by a declarative field map."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import model_validator

from idbroker.connectors.base import (
    ConnectorCore, ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    UpstreamPolicy, upstream_params,
)
from idbroker.connectors.oidc import token_set
from idbroker.connectors.profile import is_true, profile_from_claims
from idbroker.connectors.upstream_http import client_auth, request_json
from idbroker.encoding import s256
from idbroker.errors import UpstreamDenied, UpstreamProtocolError, UpstreamUnavailable
from idbroker.vault.records import UpstreamProfile

DEFAULT_PROFILE_MAP = {
    "user_id": "id", "email": "email", "email_verified": "email_verified", "name": "name",
    "given_name": "given_name", "family_name": "family_name", "nickname": "login",
    "picture": "picture",
}


class OAuth2Options(ConnectorOptions):
    # Auth0's option names for its custom social ("oauth2") strategy.
    authorizationURL: str
    tokenURL: str
    profileURL: str
    profile_map: dict[str, str] = {}
    pkce: bool = True
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = \
        "client_secret_post"
    # Upstream token termination and validation (connectors/revocation.py, validation.py):
    # an RFC 7009 endpoint and how to authenticate to it; a URL that answers 200 to a live
    # bearer token (default: profileURL).
    revocationURL: str | None = None
    revocation_auth: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"
    validationURL: str | None = None

    @property
    def field_map(self) -> dict[str, str]:
        return {**DEFAULT_PROFILE_MAP, **self.profile_map}


class LockedOAuth2Options(OAuth2Options):
    """The options of a provider built on the generic connector whose endpoints (and, when
    ``locked_auth_method`` is set, client authentication) are fixed: they are filled in, and
    an operator setting one of them to anything else is refused (connectors/providers/)."""

    locked_endpoints: ClassVar[dict[str, str]] = {}
    locked_auth_method: ClassVar[str | None] = None
    provider_name: ClassVar[str] = "oauth2"

    @model_validator(mode="before")
    @classmethod
    def _locked_endpoints(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        locked = cls.locked_endpoints
        fixed = (*locked, "revocationURL", "validationURL", "profile_map")
        given = sorted(k for k in fixed if raw.get(k) not in (None, locked.get(k)))
        method = cls.locked_auth_method
        if method and raw.get("token_endpoint_auth_method") not in (None, method):
            given.append("token_endpoint_auth_method")
        if given:
            raise ValueError(f"{', '.join(given)} cannot be set for {cls.provider_name}")
        return {**raw, **locked, **({"token_endpoint_auth_method": method} if method else {})}


def lookup(document: Any, path: str) -> Any:
    """A dotted path into the profile document (``data.attributes.email``)."""
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


class OAuth2Connector(ConnectorCore):
    strategy: ClassVar[str] = "oauth2"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = True
    Options: ClassVar[type[OAuth2Options]] = OAuth2Options

    options: OAuth2Options

    def __init__(self, *, name: str, options: OAuth2Options, client_secret: str | None,
                 http: httpx.AsyncClient, policy: UpstreamPolicy) -> None:
        super().__init__(name=name, options=options, client_secret=client_secret, http=http,
                         policy=policy)
        for field in ("authorizationURL", "tokenURL", "profileURL", "revocationURL",
                      "validationURL"):
            if getattr(options, field) is not None:
                policy.check_url(getattr(options, field), f"options.{field}")

    def scopes(self, extra: list[str]) -> list[str]:
        """The scopes asked of the upstream for one login (``connection_scope`` adds ``extra``)."""
        return list(dict.fromkeys([*self.options.scopes(""), *extra]))

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        scopes = self.scopes(request.extra_scopes)
        params = {
            **upstream_params(self.options, request.request_params),
            "response_type": "code",
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "state": request.state,
        }
        if scopes:
            params["scope"] = " ".join(scopes)
        if self.options.pkce:
            params["code_challenge"] = s256(request.code_verifier)
            params["code_challenge_method"] = "S256"
        endpoint = self.options.authorizationURL
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        params = callback.params
        if params.get("error"):
            if params["error"] == "temporarily_unavailable":
                raise UpstreamUnavailable(detail="authorize: temporarily_unavailable")
            raise UpstreamDenied(detail="authorize: error")
        if not params.get("code"):
            raise UpstreamProtocolError(detail="authorize: no code")
        data = {"grant_type": "authorization_code", "code": params["code"],
                "redirect_uri": callback.callback_url}
        if self.options.pkce:
            data["code_verifier"] = callback.code_verifier
        auth = client_auth(self.options.token_endpoint_auth_method, self.options.client_id,
                           self.client_secret, data)
        body = await request_json(self.http, "POST", self.options.tokenURL, what="token",
                                  timeout=self.policy.timeout_s, data=data, auth=auth)
        tokens = token_set(body)
        document = await request_json(
            self.http, "GET", self.options.profileURL, what="profile",
            timeout=self.policy.timeout_s,
            headers={"Authorization": f"Bearer {tokens.access_token}"})
        token_url = urlsplit(self.options.tokenURL)
        subject = self._subject(document)
        return UpstreamLogin(issuer=f"{token_url.scheme}://{token_url.netloc}", subject=subject,
                             profile=self._profile(document, subject), tokens=tokens)

    def _subject(self, document: dict[str, Any]) -> str:
        value = lookup(document, self.options.field_map["user_id"])
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise UpstreamProtocolError(detail="profile: no user id at the mapped path")
        subject = str(value)
        if len(subject) > 255:
            raise UpstreamProtocolError(detail="profile: user id too long")
        return subject

    def _profile(self, document: dict[str, Any], subject: str) -> UpstreamProfile:
        mapped = {field: lookup(document, path) for field, path in self.options.field_map.items()
                  if field != "user_id"}
        mapped["sub"] = subject
        # Only a provider that explicitly vouches for the address makes it verified.
        mapped["email_verified"] = is_true(mapped.get("email_verified"))
        return profile_from_claims({k: v for k, v in mapped.items() if v is not None})
