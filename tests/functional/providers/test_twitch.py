"""Twitch quirks the conformance suite does not cover: its own error shape, the ``OAuth``
scheme of ``/oauth2/validate`` and its client check, ``force_verify``, and the Helix
``Client-Id`` header."""

from __future__ import annotations

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.twitch import FakeTwitch
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeTwitch()


async def test_validation_refuses_a_token_of_another_app(driver: Driver,
                                                         provider: FakeTwitch) -> None:
    app = await driver.setup()
    await driver.login(app, prompt="login")
    assert provider.last_authorize["force_verify"] == "true"
    assert "code_challenge" not in provider.last_authorize
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    live = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    assert live.status_code == 200 and live.json()["scope"] == "user:read:email"
    provider.client_id = "another-app"  # /validate now names another client
    other = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    assert other.status_code == 502, other.text


async def test_without_the_email_scope_there_is_no_email(driver: Driver,
                                                         provider: FakeTwitch) -> None:
    app = await driver.setup(scope="channel:read:subscriptions")
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert "email" not in user and user["nickname"] == "twitchdev"
    assert user["email_verified"] is False


async def test_a_wrong_client_secret_refuses_the_login(driver: Driver,
                                                       provider: FakeTwitch) -> None:
    app = await driver.setup(client_secret="not-the-secret")
    result = await driver.login(app)
    assert result["error"] == "access_denied" and provider.calls["profile"] == 0
