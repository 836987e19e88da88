"""A fake of Yahoo's OpenID Connect endpoints (developer.yahoo.com/oauth2/guide/
openid_connect) on api.login.yahoo.com: ``/oauth2/request_auth``, ``/oauth2/get_token``
(client_secret_basic or _post; a refresh token with every code, kept on refresh),
``/openid/v1/userinfo`` and ``/openid/v1/certs`` (ES256). No revocation, no introspection."""

from __future__ import annotations

from typing import Any

from tests.fakes.providers.keycloak import OIDC_AUTHORIZE, FakeOIDC

ISSUER = "https://api.login.yahoo.com"


class FakeYahoo(FakeOIDC):
    strategy = "yahoo"
    hosts = ("api.login.yahoo.com",)
    issuer = ISSUER
    endpoints = {"authorize": f"{ISSUER}/oauth2/request_auth",
                 "token": f"{ISSUER}/oauth2/get_token",
                 "userinfo": f"{ISSUER}/openid/v1/userinfo",
                 "jwks": f"{ISSUER}/openid/v1/certs"}
    authorize_params = frozenset(OIDC_AUTHORIZE | {"language"})
    id_alg = "ES256"

    def __init__(self) -> None:
        super().__init__()
        self.client_id = "dj0yJmk9ZmFrZVlhaG9vJmQ9WVdrOWZha2U-"
        self.user.update({"sub": "FAKEGUIDYAHOO7Q", "email": "jane@yahoo.com",
                          "nickname": "jane", "locale": "en-US",
                          "picture": "https://s.yimg.com/ag/images/jane_192sq.jpg"})

    def expected_profile(self) -> dict[str, Any]:
        return {**super().expected_profile(), "email": "jane@yahoo.com", "nickname": "jane"}

    def tokens_body(self, scopes: list[str], nonce: str | None, refresh: bool,
                    grant: str | None = None) -> dict[str, Any]:
        body = super().tokens_body(scopes, nonce, refresh, grant)
        body["xoauth_yahoo_guid"] = self.user["sub"]
        return body

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant", "error_description": "Authorization code expired"}


STRATEGY = "yahoo"
make_fake = FakeYahoo
