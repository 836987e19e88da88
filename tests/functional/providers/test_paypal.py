"""Log in with PayPal: live and sandbox hosts, the identity-URL subject, a string
``expires_in``, email trust from PayPal's ``email_verified``, and fixed endpoints."""

from __future__ import annotations

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.paypal import USER_ID, FakePayPal
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture(params=[False, True], ids=["live", "sandbox"])
def provider(request: pytest.FixtureRequest) -> FakeProvider:
    return FakePayPal(sandbox=request.param)


async def test_login_on_live_or_sandbox(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    sent = provider.last_authorize
    assert sent["scope"] == "openid profile email" and "code_challenge" not in sent
    user = await driver.user(await driver.reader())
    assert user["user_id"] == f"paypal|{USER_ID}"
    identity = user["identities"][0]
    assert identity["refresh_token"].startswith("R23A")
    assert 28000 < identity["expires_in"] <= 28800  # PayPal sent "28800", a string


@pytest.mark.parametrize("provider", [False], indirect=True)
async def test_unverified_email_is_not_trusted(driver: Driver, provider: FakeProvider) -> None:
    assert isinstance(provider, FakePayPal)
    provider.user["email_verified"] = False
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["email"] == "jane@example.com" and user["email_verified"] is False


@pytest.mark.parametrize("provider", [False], indirect=True)
async def test_endpoints_are_fixed(broker: Broker, provider: FakeProvider) -> None:
    for extra in ({"tokenURL": "https://evil.example/token"}, {"pkce": True},
                  {"profile_map": {"email_verified": "verified_account"}}):
        response = await broker.mgmt("POST", "connections", json={
            "name": "paypal", "strategy": "paypal",
            "options": {"client_id": "c", "client_secret": "s", **extra}})
        assert response.status_code == 400, response.text
        assert "cannot be set for paypal" in response.json()["message"]
