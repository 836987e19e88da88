"""Login with Amazon: fixed endpoints, the email never trusted, tokeninfo's audience check,
the refresh answer's new refresh token, and no revocation upstream."""

from __future__ import annotations

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.amazon import FakeAmazon
from tests.fakes.providers.base import FakeProvider
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture
def provider() -> FakeProvider:
    return FakeAmazon()


async def test_login_sends_amazons_parameters(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup(scope="profile postal_code")
    await driver.login(app)
    sent = provider.last_authorize
    assert sent["scope"] == "profile postal_code" and sent["code_challenge_method"] == "S256"
    user = await driver.user(await driver.reader())
    assert user["email"] == "jane@example.com" and user["email_verified"] is False
    assert user["user_id"] == "amazon|amzn1.account.AF2KYQHNRZ3XW7QTN5BQKX3L4WYA"


async def test_tokeninfo_for_another_client_is_no_verdict(driver: Driver,
                                                          provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    provider.client_id = "amzn1.application-oa2-client.someone-else"  # tokeninfo's aud
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    response = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation",
                                        token=checker)
    assert response.status_code == 502, response.text


async def test_refresh_replaces_the_refresh_token(driver: Driver,
                                                  provider: FakeProvider) -> None:
    provider.access_ttl = 30
    app = await driver.setup()
    await driver.login(app)
    first = next(t for t, i in provider.tokens.items() if i.kind == "refresh_token")
    provider.access_ttl = 3600
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert provider.calls["token"] == 2
    assert identity["refresh_token"] != first and provider.live(identity["refresh_token"])
    assert identity["refresh_token"].startswith("Atzr|")


async def test_no_revocation_upstream(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204
    # The attempt runs after the response: wait for it, so that it is what is checked and
    # it does not outlive the test (and its database connection the event loop).
    await revocation.settle()
    assert provider.calls["revoke"] == 0


async def test_endpoints_and_profile_map_are_fixed(broker: Broker) -> None:
    for extra in ({"tokenURL": "https://evil.example/token"},
                  {"profile_map": {"email_verified": "email"}}):
        response = await broker.mgmt("POST", "connections", json={
            "name": "amazon", "strategy": "amazon",
            "options": {"client_id": "c", "client_secret": "s", **extra}})
        assert response.status_code == 400, response.text
        assert "cannot be set for amazon" in response.json()["message"]
