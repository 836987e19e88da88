"""Zoom quirks the conformance suite does not cover: Basic-only client authentication,
rotated refresh tokens, and ``verified`` deciding whether the email is trusted."""

from __future__ import annotations

import pytest

from idbroker.vault.records import TokenSet
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.zoom import FakeZoom
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeZoom()


async def test_unverified_zoom_email_is_not_trusted(driver: Driver, provider: FakeZoom) -> None:
    provider.user["verified"] = 0
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["email"] == "jchill@example.com" and user["email_verified"] is False
    assert provider.last_authorize["code_challenge_method"] == "S256"


async def test_refresh_keeps_the_newest_refresh_token(driver: Driver,
                                                      provider: FakeZoom) -> None:
    provider.access_ttl = 30
    app = await driver.setup()
    await driver.login(app)
    first_refresh = [t for t, i in provider.tokens.items() if i.kind == "refresh_token"][0]
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity["refresh_token"] != first_refresh
    assert provider.live(identity["refresh_token"]) and not provider.live(first_refresh)


async def test_client_auth_in_the_form_is_refused(driver: Driver) -> None:
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "zoom", "strategy": "zoom",
        "options": {"client_id": "c", "client_secret": "s",
                    "token_endpoint_auth_method": "client_secret_post"}})
    assert response.status_code == 400
    assert "token_endpoint_auth_method cannot be set for zoom" in response.json()["message"]


async def test_revoking_an_already_dead_token_settles(driver: Driver,
                                                      provider: FakeZoom) -> None:
    app = await driver.setup()
    await driver.login(app)
    identity = (await driver.user(await driver.reader()))["identities"][0]
    provider.kill_grant(identity["access_token"])  # the user removed the app at Zoom
    connector = driver.broker.runtime.connector(
        (await driver.broker.runtime.store.list_connections("zoom"))[0])
    result = await connector.revoke_tokens(TokenSet(access_token=identity["access_token"]))
    assert result.ok and result.detail == "already invalid"
