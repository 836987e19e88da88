"""Login with Amazon (Auth0 ``strategy: "amazon"``): OAuth 2.0 authorization code grant.

Amazon specifics (developer.amazon.com/docs/login-with-amazon: "Authorization Code Grant",
"Access Tokens", "Obtain Customer Profile Information"): the consent page is
``https://www.amazon.com/ap/oa``; the token endpoint ``https://api.amazon.com/auth/o2/token``
takes the client credentials in the form body and always answers a refresh token with the
code grant (``Atzr|…``) beside a one-hour access token (``Atza|…``); a refresh answers a new
refresh token, which replaces the stored one; the profile ``https://api.amazon.com/user/profile``
holds ``user_id`` (``amzn1.account.…``), ``name``, ``email`` (scope ``profile``) and
``postal_code`` (scope ``postal_code``). Amazon does not say that the email is verified, so it
never is here. ``/auth/o2/tokeninfo`` describes a live token (``aud`` must be this client) and
answers 400 ``invalid_token`` otherwise. Amazon documents no revocation endpoint.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

from pydantic import model_validator

from idbroker.connectors.oauth2 import OAuth2Connector, OAuth2Options
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.providers.wire import object_of, send, transient
from idbroker.connectors.validation import TokenCheck
from idbroker.errors import UpstreamProtocolError, UpstreamUnavailable

SPEC = ProviderSpec(
    strategy="amazon", display_name="Login with Amazon", protocol="oauth2",
    default_scopes=("profile",), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant (the code grant always yields one); "
                   "the refresh answer's refresh token replaces the stored one",
    supports_revocation=False,
    revocation_method="none: Amazon documents no revocation endpoint",
    validation_method="tokeninfo",
    email_trust="never (Amazon does not state that the email is verified)",
    rotates_refresh_tokens=True,
)
URLS = {
    "authorizationURL": "https://www.amazon.com/ap/oa",
    "tokenURL": "https://api.amazon.com/auth/o2/token",
    "profileURL": "https://api.amazon.com/user/profile",
}
TOKENINFO_URL = "https://api.amazon.com/auth/o2/tokeninfo"
_FIXED = (*URLS, "revocationURL", "validationURL", "profile_map")


class AmazonOptions(OAuth2Options):
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = \
        "client_secret_post"

    @model_validator(mode="before")
    @classmethod
    def _fixed(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        given = sorted(k for k in _FIXED if raw.get(k) and raw.get(k) != URLS.get(k))
        if given:
            raise ValueError(f"{', '.join(given)} cannot be set for amazon")
        # email_verified maps to nothing: Amazon never vouches for the address.
        return {**raw, **URLS, "profile_map": {"user_id": "user_id", "nickname": "-",
                                               "email_verified": "-"}}


class AmazonConnector(OAuth2Connector):
    strategy: ClassVar[str] = "amazon"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[AmazonOptions]] = AmazonOptions  # type: ignore[assignment]

    def scopes(self, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.options.scopes(" ".join(SPEC.default_scopes)),
                                   *extra]))

    async def validate_token(self, access_token: str) -> TokenCheck:
        # Amazon documents the token as a query parameter; httpx's log line drops the query
        # (providers/log_redaction.py).
        response = await send(self.http, "GET", TOKENINFO_URL, what="tokeninfo",
                              timeout=self.policy.timeout_s,
                              params={"access_token": access_token})
        if transient(response):
            raise UpstreamUnavailable(detail=f"tokeninfo: HTTP {response.status_code}")
        body = object_of(response, "tokeninfo")
        if response.status_code in (400, 401) and body.get("error") in ("invalid_token",
                                                                        "invalid_request"):
            return TokenCheck(active=False, method="tokeninfo")
        if response.status_code != 200:
            raise UpstreamProtocolError(detail=f"tokeninfo: HTTP {response.status_code}")
        if body.get("aud") != self.options.client_id:
            # A live token, but issued to another client: not ours to vouch for.
            raise UpstreamProtocolError(detail="tokeninfo: aud is another client")
        remaining = body.get("exp")  # seconds left, per Amazon's example
        exp = int(time.time()) + remaining if isinstance(remaining, int) and \
            not isinstance(remaining, bool) and remaining >= 0 else None
        return TokenCheck(active=True, method="tokeninfo", exp=exp)


CONNECTOR = AmazonConnector
