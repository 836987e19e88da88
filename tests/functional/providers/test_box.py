"""Box quirks the conformance suite does not cover: single-use refresh tokens rotated on each
refresh, no PKCE, and the login address never trusted as verified."""

from __future__ import annotations

import pytest

from idbroker.connectors import refresh as upstream_refresh
from idbroker.errors import UpstreamTokenRejected
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.box import FakeBox
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeBox()


async def test_refresh_rotates_the_single_use_refresh_token(driver: Driver,
                                                            provider: FakeBox) -> None:
    provider.access_ttl = 30  # stale on the next read
    app = await driver.setup()
    await driver.login(app)
    first_refresh = [t for t, i in provider.tokens.items() if i.kind == "refresh_token"][0]
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity["refresh_token"] != first_refresh  # the rotated one is what is stored
    assert provider.live(identity["refresh_token"]) and not provider.live(first_refresh)
    # The used one is dead at Box: presenting it again is a dead grant, not a retry.
    connector = driver.broker.runtime.connector(
        (await driver.broker.runtime.store.list_connections("box"))[0])
    with pytest.raises(UpstreamTokenRejected):
        await upstream_refresh.refresh(connector, first_refresh, subject="-", timeout=2.0)


async def test_authorize_has_no_pkce_and_the_email_is_unverified(driver: Driver,
                                                                 provider: FakeBox) -> None:
    app = await driver.setup()
    await driver.login(app)
    assert "code_challenge" not in provider.last_authorize
    assert provider.last_authorize["scope"] == "root_readonly"
    user = await driver.user(await driver.reader())
    assert user["email"] == "ceo@example.com" and user["email_verified"] is False


async def test_a_scope_the_app_lacks_is_refused(driver: Driver, provider: FakeBox) -> None:
    app = await driver.setup(scope="manage_enterprise")
    result = await driver.login(app)
    assert result["error"] == "access_denied" and provider.calls["token"] == 0


async def test_pkce_cannot_be_switched_on(driver: Driver) -> None:
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "box", "strategy": "box",
        "options": {"client_id": "c", "client_secret": "s", "pkce": True}})
    assert response.status_code == 400
    assert "Box does not support PKCE" in response.json()["message"]
