"""Okta quirks: a refresh token only with offline_access, and the org authorization server
(issuer https://{domain}, endpoints under /oauth2/v1)."""

from __future__ import annotations

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.okta import FakeOkta
from tests.functional.providers.conftest import Driver


class FakeOktaOrgServer(FakeOkta):
    issuer = f"https://{FakeOkta.domain}"
    endpoints = {"discovery": f"{issuer}/.well-known/openid-configuration",
                 "authorize": f"{issuer}/oauth2/v1/authorize",
                 "token": f"{issuer}/oauth2/v1/token",
                 "userinfo": f"{issuer}/oauth2/v1/userinfo", "jwks": f"{issuer}/oauth2/v1/keys",
                 "revoke": f"{issuer}/oauth2/v1/revoke",
                 "introspect": f"{issuer}/oauth2/v1/introspect"}

    def connection_options(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "domain": self.domain}


@pytest.fixture(params=["custom", "org"])
def provider(request: pytest.FixtureRequest) -> FakeProvider:
    return FakeOkta() if request.param == "custom" else FakeOktaOrgServer()


async def test_no_refresh_token_without_offline_access(driver: Driver,
                                                       provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    assert "offline_access" not in provider.last_authorize["scope"].split()
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "refresh_token" not in identity
    assert identity["user_id"] == "00u1a2b3c4d5e6f7g8h9"


async def test_offline_access_option_yields_a_refresh_token(driver: Driver,
                                                            provider: FakeProvider) -> None:
    app = await driver.setup(offline_access=True)
    await driver.login(app)
    assert "offline_access" in provider.last_authorize["scope"].split()
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert provider.live(identity["refresh_token"])
    assert provider.calls["discovery"] == 1
