"""Salesforce: production / sandbox / My Domain base URLs, the identity-URL subject, the
token lifetime derived from ``issued_at`` and the session timeout, a refresh that keeps the
refresh token, revocation of an already dead token, and option validation."""

from __future__ import annotations

from typing import Any

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.salesforce import ORG, USER, FakeSalesforce
from tests.functional.providers.conftest import Driver
from tests.functional.lifecycle.test_refresh import expire
from tests.support import Broker


@pytest.fixture(params=["https://login.salesforce.com", "https://test.salesforce.com",
                        "https://acme--uat.sandbox.my.salesforce.com"])
def provider(request: pytest.FixtureRequest) -> FakeProvider:
    return FakeSalesforce(request.param)


async def test_each_base_url_is_its_own_issuer(driver: Driver, provider: FakeProvider) -> None:
    assert isinstance(provider, FakeSalesforce)
    options = {"sandbox": True} if provider.base == "https://test.salesforce.com" else {}
    app = await driver.setup(**options)
    result = await driver.login(app)
    assert "code" in result, result
    assert provider.calls["authorize"] == provider.calls["token"] == 1
    user = await driver.user(await driver.reader())
    assert user["user_id"] == f"salesforce|{ORG}|{USER}" and user["email_verified"] is True
    identity = user["identities"][0]
    # No expires_in from Salesforce: the session timeout (7200 s by default) from issued_at.
    assert 7000 < identity["expires_in"] <= 7200
    assert identity.get("refresh_token")


@pytest.mark.parametrize("provider", ["https://login.salesforce.com"], indirect=True)
async def test_refresh_keeps_the_refresh_token(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup(session_timeout_s=900)
    await driver.login(app)
    first = await driver.user(await driver.reader())
    assert 800 < first["identities"][0]["expires_in"] <= 900
    rt = driver.broker.runtime
    stored = await rt.store.get_user(first["user_id"])
    assert stored is not None
    await expire(driver.broker, stored.identities[0].id)
    renewed = (await driver.user(await driver.reader()))["identities"][0]
    assert provider.calls["token"] == 2
    assert renewed["access_token"] != first["identities"][0]["access_token"]
    assert renewed["refresh_token"] == first["identities"][0]["refresh_token"]


@pytest.mark.parametrize("provider", ["https://login.salesforce.com"], indirect=True)
async def test_revoking_a_dead_grant_counts_as_done(driver: Driver,
                                                    provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    identity = (await driver.user(await driver.reader()))["identities"][0]
    provider.kill_grant(identity["access_token"])  # the user revoked the app in Salesforce
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204
    await revocation.settle()
    assert provider.calls["revoke"] == 1  # answered unsupported_token_type; not retried


BAD: list[tuple[dict[str, Any], str]] = [
    ({"base_url": "https://evil.example"}, "My Domain"),
    ({"base_url": "https://acme.my.salesforce.com/"}, "base_url"),
    ({"base_url": "http://acme.my.salesforce.com"}, "base_url"),
    ({"sandbox": True, "base_url": "https://login.salesforce.com"}, "contradict"),
    ({"token_endpoint": "https://evil.example/token"}, "cannot be set for salesforce"),
    ({"session_timeout_s": 60}, "session_timeout_s"),
]


@pytest.mark.parametrize("provider", ["https://login.salesforce.com"], indirect=True)
async def test_bad_options_get_clear_errors(broker: Broker, provider: FakeProvider) -> None:
    for options, message in BAD:
        response = await broker.mgmt("POST", "connections", json={
            "name": "sfdc", "strategy": "salesforce",
            "options": {"client_id": "c", "client_secret": "s", **options}})
        assert response.status_code == 400, (options, response.text)
        assert message in response.json()["message"], (message, response.json())
