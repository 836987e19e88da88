"""Microsoft personal accounts (``windowslive``): the ``consumers`` tenant only,
``offline_access`` as the one way to a refresh token, rotation, no revocation, and the Graph
``/me`` probe's answers."""

from __future__ import annotations

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.windowslive import FakeMicrosoft
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture
def provider() -> FakeProvider:
    return FakeMicrosoft()


async def test_consumers_tenant_and_offline_access(driver: Driver,
                                                   provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    sent = provider.last_authorize
    assert sent["scope"].split() == ["openid", "profile", "email", "offline_access", "User.Read"]
    assert sent["code_challenge_method"] == "S256"
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity.get("refresh_token")


async def test_without_offline_access_no_refresh_token(driver: Driver,
                                                       provider: FakeProvider) -> None:
    app = await driver.setup(scope="openid profile email User.Read")
    await driver.login(app)
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "refresh_token" not in identity


async def test_a_work_account_token_is_refused(driver: Driver, provider: FakeProvider) -> None:
    assert isinstance(provider, FakeMicrosoft)
    provider.tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    app = await driver.setup()
    result = await driver.login(app)
    assert "code" not in result and result.get("error"), result


async def test_refresh_rotates_the_refresh_token(driver: Driver, provider: FakeProvider) -> None:
    provider.access_ttl = 30
    app = await driver.setup()
    await driver.login(app)
    first = next(t for t, i in provider.tokens.items() if i.kind == "refresh_token")
    provider.access_ttl = 3600
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert provider.calls["token"] == 2
    assert identity["refresh_token"] != first and provider.live(identity["refresh_token"])


async def test_validation_without_user_read_is_an_upstream_error(
        driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup(scope="openid profile email offline_access")
    await driver.login(app)
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    response = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation",
                                        token=checker)
    assert response.status_code == 502, response.text  # 403 is no verdict on the token
    assert provider.calls["validate"] == 1


async def test_no_revocation_upstream(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204, response.text
    await revocation.settle()  # the attempt made after the response
    assert provider.calls["revoke"] == 0 and provider.calls["token"] == 1


async def test_endpoints_cannot_be_set(broker: Broker) -> None:
    response = await broker.mgmt("POST", "connections", json={
        "name": "msa", "strategy": "windowslive",
        "options": {"client_id": "c", "client_secret": "s",
                    "authorization_endpoint": "https://evil.example/authorize"}})
    assert response.status_code == 400
    assert "cannot be set for windowslive" in response.json()["message"]
