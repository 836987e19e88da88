"""Another Auth0 tenant as an OIDC upstream (auth0-oidc): the tenant's domain decides every
endpoint; refresh tokens only with offline_access; a rotated-out refresh token presented
again kills the family; revocation ends the refresh token only, and an identity without one
has nothing revocable."""

from __future__ import annotations

import time

import pytest

from idbroker.connectors import refresh as upstream_refresh
from idbroker.errors import UpstreamTokenRejected
from idbroker.lifecycle import revocation
from tests.fakes.providers.auth0_oidc import FakeAuth0
from tests.fakes.providers.base import FakeProvider
from tests.functional.lifecycle.test_refresh import expire
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture
def provider() -> FakeProvider:
    return FakeAuth0()


@pytest.mark.parametrize(("options", "message"), [
    ({}, "options.domain is required"),
    ({"domain": "https://acme.us.auth0.com"}, "options.domain is required"),
    ({"domain": "acme.us.auth0.com", "token_endpoint": "https://evil.example/oauth/token"},
     "cannot be set"),
])
async def test_the_domain_decides_the_endpoints(broker: Broker, options: dict[str, str],
                                                message: str) -> None:
    response = await broker.mgmt("POST", "connections", json={
        "name": "auth0-oidc", "strategy": "auth0-oidc",
        "options": {"client_id": "c", "client_secret": "s", **options}})
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


async def test_reusing_a_rotated_refresh_token_kills_the_family(driver: Driver,
                                                                provider: FakeProvider) -> None:
    app = await driver.setup(offline_access=True)
    await driver.login(app)
    assert "offline_access" in provider.last_authorize["scope"].split()
    first = (await driver.user(await driver.reader()))["identities"][0]
    assert first["user_id"] == "auth0|65f1c2d3e4a5b6c7d8e9f0a1"
    user = await driver.broker.runtime.store.get_user("auth0-oidc|auth0|65f1c2d3e4a5b6c7d8e9f0a1")
    assert user is not None
    await expire(driver.broker, user.identities[0].id)
    renewed = (await driver.user(await driver.reader()))["identities"][0]
    assert renewed["refresh_token"] != first["refresh_token"]
    assert provider.live(renewed["refresh_token"])

    connection = (await driver.broker.runtime.store.list_connections("auth0-oidc"))[0]
    connector = driver.broker.runtime.connector(connection)
    with pytest.raises(UpstreamTokenRejected):  # Auth0: 403 invalid_grant
        await upstream_refresh.refresh(connector, first["refresh_token"], subject="-",
                                       timeout=2.0)
    assert not provider.live(renewed["refresh_token"])  # the whole family went with it


async def test_without_a_refresh_token_there_is_nothing_to_revoke(
        driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "refresh_token" not in identity
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204, response.text
    await revocation.settle()
    await revocation.process_due(driver.broker.runtime, now=int(time.time() * 1000) + 3_600_000)
    assert provider.calls["revoke"] == 0
    assert provider.live(identity["access_token"])
