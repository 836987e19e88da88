"""Bitbucket Cloud quirks beyond the conformance suite: scopes belong to the OAuth consumer
(none sent, `options.scope` refused), the `is_primary` + `is_confirmed` email rule, a consumer
without the email scope, and no documented revocation."""

from __future__ import annotations

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.bitbucket import FakeBitbucket
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture
def provider() -> FakeProvider:
    return FakeBitbucket()


async def test_unconfirmed_primary_email_is_not_trusted(driver: Driver,
                                                        provider: FakeBitbucket) -> None:
    provider.emails = [{"type": "email", "email": "bea@example.com", "is_primary": True,
                        "is_confirmed": False},
                       {"type": "email", "email": "bea.old@example.com", "is_primary": False,
                        "is_confirmed": True}]
    app = await driver.setup()
    await driver.login(app, connection_scope="repository")
    assert "scope" not in provider.last_authorize  # the consumer's scopes apply
    user = await driver.user(await driver.reader())
    assert user["email"] == "bea@example.com" and user["email_verified"] is False
    identity = user["identities"][0]
    assert identity["refresh_token"] and identity["expires_in"] > 3600


async def test_consumer_without_email_scope(driver: Driver, provider: FakeBitbucket) -> None:
    provider.consumer_scopes = ["account"]
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert "email" not in user and user["email_verified"] is False
    assert provider.calls["emails"] == 1  # answered 403


async def test_no_revocation_upstream(driver: Driver, provider: FakeBitbucket) -> None:
    app = await driver.setup()
    await driver.login(app)
    stored = (await driver.user(await driver.reader()))["identities"][0]
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204, response.text
    await revocation.settle()
    # Nothing at Bitbucket can end the grant; the broker forgets the tokens.
    assert provider.live(stored["access_token"])
    after = (await driver.user(await driver.reader()))["identities"][0]
    assert "access_token" not in after


async def test_scope_option_is_refused(broker: Broker) -> None:
    response = await broker.mgmt("POST", "connections", json={
        "name": "bb", "strategy": "bitbucket",
        "options": {"client_id": "c", "client_secret": "s", "scope": "account"}})
    assert response.status_code == 400
    assert "scopes are chosen on the OAuth consumer" in response.json()["message"]
