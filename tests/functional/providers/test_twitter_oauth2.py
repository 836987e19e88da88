"""X (Twitter) OAuth 2.0 quirks the conformance suite does not cover: mandatory PKCE and
Basic client authentication, refresh tokens only with offline.access and rotated, X's
``invalid_request`` for a dead refresh token, a profile without email, and a 403 that is not
a dead token."""

from __future__ import annotations

import pytest

from idbroker.connectors import refresh as upstream_refresh
from idbroker.errors import UpstreamTokenRejected
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.twitter_oauth2 import FakeTwitterOAuth2
from tests.functional.lifecycle.test_refresh import expire
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeTwitterOAuth2()


async def test_login_sends_pkce_and_maps_a_profile_without_email(driver: Driver,
                                                                 provider: FakeProvider) -> None:
    assert isinstance(provider, FakeTwitterOAuth2)
    app = await driver.setup()
    assert "code" in await driver.login(app)
    sent = provider.last_authorize
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert sent["scope"] == "tweet.read users.read offline.access"
    assert "profile_image_url" in provider.fields_asked
    user = await driver.user(await driver.reader())
    assert "email" not in user and user["email_verified"] is False
    assert user["nickname"] == "janex" and user["location"] == "Lisbon"
    identity = user["identities"][0]
    assert identity["refresh_token"] and identity["expires_in"] > 7000


async def test_refresh_rotates_the_refresh_token(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    first = (await driver.user(await driver.reader()))["identities"][0]
    user = await driver.broker.runtime.store.get_user(provider.expected_profile()["user_id"])
    assert user is not None
    await expire(driver.broker, user.identities[0].id)
    renewed = (await driver.user(await driver.reader()))["identities"][0]
    assert renewed["refresh_token"] != first["refresh_token"]
    assert provider.live(renewed["refresh_token"]) and not provider.live(first["refresh_token"])
    # Reusing the rotated-out token: X answers invalid_request, which means a dead grant.
    connection = (await driver.broker.runtime.store.list_connections("twitter-oauth2"))[0]
    connector = driver.broker.runtime.connector(connection)
    with pytest.raises(UpstreamTokenRejected):
        await upstream_refresh.refresh(connector, first["refresh_token"], subject="-",
                                       timeout=2.0)


async def test_without_offline_access_no_refresh_token(driver: Driver,
                                                       provider: FakeProvider) -> None:
    app = await driver.setup(scope="tweet.read users.read")
    await driver.login(app)
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "refresh_token" not in identity


async def test_a_forbidden_probe_is_not_a_dead_token(driver: Driver,
                                                     provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    provider.fail("validate", 403, {"title": "Forbidden", "type": "about:blank",
                                    "status": 403, "detail": "Forbidden"})
    response = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation",
                                        token=checker)
    assert response.status_code == 502, response.text


async def test_wrong_client_secret_refuses_the_login(driver: Driver,
                                                     provider: FakeProvider) -> None:
    app = await driver.setup(client_secret="not-the-secret")
    result = await driver.login(app)
    assert result["error"] == "access_denied"
    assert provider.calls["token"] == 1 and provider.calls["me"] == 0
