"""Log in with PayPal (Auth0 ``strategy: "paypal"``; ``sandbox: true`` stands for Auth0's
``paypal-sandbox``): OAuth 2.0 with PayPal's Identity API.

PayPal specifics (developer.paypal.com "Log in with PayPal", Identity API v1
``userinfo``): consent at ``https://www.paypal.com/signin/authorize`` (sandbox
``www.sandbox.paypal.com``); the code is redeemed at ``https://api-m.paypal.com/v1/oauth2/token``
(sandbox ``api-m.sandbox.paypal.com``) with HTTP Basic client credentials; the answer holds a
long-lived refresh token, and ``expires_in`` may be a string; a refresh answers a new access
token only. Validation probes ``GET /v1/identity/oauth2/userinfo?schema=paypalv1.1``.
The profile is ``GET /v1/identity/openidconnect/userinfo?schema=openid``; its ``user_id``
is a URL whose last segment is the stable identifier; ``email_verified`` is PayPal's
statement about the email. No documented revocation endpoint.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_validator

from idbroker.connectors.oauth2 import OAuth2Connector, OAuth2Options, lookup
from idbroker.connectors.providers.catalog import ProviderSpec
from idbroker.connectors.validation import TokenCheck, probe
from idbroker.errors import UpstreamProtocolError

SPEC = ProviderSpec(
    strategy="paypal", display_name="PayPal", protocol="oauth2",
    default_scopes=("openid", "profile", "email"), offline_params={},
    supports_refresh=True,
    refresh_method="refresh_token grant (the code grant always yields one; not rotated)",
    supports_revocation=False,
    revocation_method="none: PayPal documents no revocation endpoint for Log in with PayPal",
    validation_method="userinfo",
    email_trust="`email_verified` of the openid-schema userinfo",
)
LIVE = ("https://www.paypal.com", "https://api-m.paypal.com")
SANDBOX = ("https://www.sandbox.paypal.com", "https://api-m.sandbox.paypal.com")
USERINFO_PATH = "/v1/identity/openidconnect/userinfo?schema=openid"
# The Identity API's other documented userinfo call, used as the validation probe.
PROBE_PATH = "/v1/identity/oauth2/userinfo?schema=paypalv1.1"
_FIXED = ("authorizationURL", "tokenURL", "profileURL", "revocationURL", "validationURL",
          "profile_map", "pkce")


def urls(sandbox: bool) -> dict[str, str]:
    web, api = SANDBOX if sandbox else LIVE
    return {"authorizationURL": f"{web}/signin/authorize", "tokenURL": f"{api}/v1/oauth2/token",
            "profileURL": api + USERINFO_PATH}


class PayPalOptions(OAuth2Options):
    sandbox: bool = False
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = \
        "client_secret_basic"

    @model_validator(mode="before")
    @classmethod
    def _fixed(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        fixed = urls(raw.get("sandbox") is True)
        given = sorted(k for k in _FIXED if k in raw and raw[k] != fixed.get(k))
        if given:
            raise ValueError(f"{', '.join(given)} cannot be set for paypal; "
                             "use sandbox: true for the sandbox")
        # PayPal documents no PKCE for Log in with PayPal.
        return {**raw, **fixed, "pkce": False,
                "profile_map": {"user_id": "user_id", "nickname": "-"}}


class PayPalConnector(OAuth2Connector):
    strategy: ClassVar[str] = "paypal"
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    Options: ClassVar[type[PayPalOptions]] = PayPalOptions  # type: ignore[assignment]

    def scopes(self, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.options.scopes(" ".join(SPEC.default_scopes)),
                                   *extra]))

    def _subject(self, document: dict[str, Any]) -> str:
        """``user_id`` is ``https://www.paypal.com/webapps/auth/identity/user/{id}``."""
        value = lookup(document, "user_id")
        subject = value.rstrip("/").rsplit("/", 1)[-1] if isinstance(value, str) else ""
        if not subject or len(subject) > 255 or not subject.replace("-", "").replace(
                "_", "").isalnum():
            raise UpstreamProtocolError(detail="profile: user_id is not a PayPal identity URL")
        return subject

    async def validate_token(self, access_token: str) -> TokenCheck:
        # A probe: 200 live, 401 not (PayPal documents no introspection for these tokens).
        api = (SANDBOX if self.options.sandbox else LIVE)[1]
        return await probe(self, api + PROBE_PATH, access_token)


CONNECTOR = PayPalConnector
