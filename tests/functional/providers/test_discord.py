"""Discord quirks beyond the conformance suite: Basic client authentication by default (the
form body on request), the `verified` email rule, refresh-token rotation, and a token check
that refuses another application's token."""

from __future__ import annotations

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.discord import FakeDiscord
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeDiscord()


async def test_unverified_email_is_not_trusted(driver: Driver, provider: FakeDiscord) -> None:
    provider.user["verified"] = False
    app = await driver.setup()
    await driver.login(app, prompt="login")
    user = await driver.user(await driver.reader())
    assert user["email"] == "nelly@discord.example" and user["email_verified"] is False
    sent = provider.last_authorize
    assert sent["scope"] == "identify email" and sent["prompt"] == "consent"
    assert "code_challenge" not in sent


async def test_without_the_email_scope_there_is_no_email(driver: Driver,
                                                         provider: FakeDiscord) -> None:
    app = await driver.setup(scope="identify", token_endpoint_auth_method="client_secret_post")
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert "email" not in user and user["email_verified"] is False
    assert user["nickname"] == "nelly"


async def test_refresh_rotates_the_refresh_token(driver: Driver, provider: FakeDiscord) -> None:
    provider.access_ttl = 30  # stale on the next read
    app = await driver.setup()
    await driver.login(app)
    first_refresh = next(t for t, i in provider.tokens.items() if i.kind == "refresh_token")
    provider.access_ttl = 604800
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity["refresh_token"] != first_refresh
    assert provider.live(identity["refresh_token"]) and not provider.live(first_refresh)


async def test_a_token_of_another_application_is_not_vouched_for(
        driver: Driver, provider: FakeDiscord) -> None:
    app = await driver.setup()
    await driver.login(app)
    provider.client_id = "999999999999999999"  # the fake now reports another application
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    response = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation",
                                        token=checker)
    assert response.status_code == 502, response.text
