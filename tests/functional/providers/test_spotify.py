"""Spotify quirks the conformance suite does not cover: a refresh that returns no new refresh
token keeps the old one, ``show_dialog`` for a forced re-approval, no revocation endpoint,
and an email Spotify itself calls unverified."""

from __future__ import annotations

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.spotify import FakeSpotify
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeSpotify(rotate=False)


async def test_refresh_without_a_new_refresh_token_keeps_the_old(driver: Driver,
                                                                 provider: FakeSpotify) -> None:
    provider.access_ttl = 30
    app = await driver.setup()
    await driver.login(app)
    at_login = [t for t, i in provider.tokens.items() if i.kind == "refresh_token"]
    first_access = [t for t, i in provider.tokens.items() if i.kind == "access_token"][0]
    provider.access_ttl = 3600
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert provider.calls["token"] == 2
    assert identity["refresh_token"] == at_login[0] and provider.live(at_login[0])
    assert provider.live(identity["access_token"])
    assert identity["access_token"] != first_access


async def test_prompt_login_shows_the_dialog_and_email_is_unverified(
        driver: Driver, provider: FakeSpotify) -> None:
    app = await driver.setup()
    await driver.login(app, prompt="login")
    assert provider.last_authorize["show_dialog"] == "true"
    assert provider.last_authorize["scope"] == "user-read-email user-read-private"
    user = await driver.user(await driver.reader())
    assert user["email"] == "jmwizzler@example.com" and user["email_verified"] is False


async def test_without_revocation_the_tokens_are_only_forgotten(driver: Driver,
                                                                provider: FakeSpotify) -> None:
    app = await driver.setup()
    await driver.login(app)
    identity = (await driver.user(await driver.reader()))["identities"][0]
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204, response.text
    await revocation.settle()
    # Nothing at Spotify can end the grant; idbroker no longer holds it.
    assert provider.live(identity["access_token"])
    after = (await driver.user(await driver.reader()))["identities"][0]
    assert "access_token" not in after and "refresh_token" not in after
