"""Strava quirks beyond the conformance suite: comma-separated scopes and the scopes the
athlete really accepted, approval_prompt, the athlete from the token response, rotated
refresh tokens, no email, and option validation."""

from __future__ import annotations

import pytest

from idbroker.connectors import refresh as upstream_refresh
from tests.fakes.providers.strava import FakeStrava
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeStrava:
    return FakeStrava()


async def test_login_uses_the_token_response_athlete_and_never_an_email(
        driver: Driver, provider: FakeStrava) -> None:
    app = await driver.setup(scope="read,activity:read_all")
    await driver.login(app, connection_scope="not_a_strava_scope")
    assert provider.last_authorize["scope"] == "read,activity:read_all,not_a_strava_scope"
    assert provider.last_authorize["approval_prompt"] == "auto"
    assert provider.calls["validate"] == 0  # no /athlete call: the token response has it
    user = await driver.user(await driver.reader())
    assert "email" not in user and user["email_verified"] is False
    assert user["given_name"] == "Jane" and user["nickname"] == "jane_runs"
    # Only what the athlete accepted (the callback's scope), not what was asked.
    assert user["identities"][0]["scopes"] == ["read", "activity:read_all"]


async def test_prompt_login_forces_the_approval_page(driver: Driver,
                                                     provider: FakeStrava) -> None:
    app = await driver.setup()
    await driver.login(app, prompt="login")
    assert provider.last_authorize["approval_prompt"] == "force"


async def test_refresh_rotates_the_refresh_token(driver: Driver, provider: FakeStrava) -> None:
    app = await driver.setup()
    await driver.login(app)
    rt = driver.broker.runtime
    connector = rt.connector((await rt.store.list_connections("strava"))[0])
    first = (await driver.user(await driver.reader()))["identities"][0]
    fresh = await upstream_refresh.refresh(connector, first["refresh_token"], subject="134815",
                                           timeout=2.0)
    assert fresh.refresh_token and fresh.refresh_token != first["refresh_token"]
    assert not provider.live(first["refresh_token"]) and provider.live(fresh.refresh_token)
    assert fresh.expires_at is not None


async def test_bad_approval_prompt_is_refused(driver: Driver, provider: FakeStrava) -> None:
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "strava", "strategy": "strava",
        "options": {**provider.connection_options(), "approval_prompt": "always"}})
    assert response.status_code == 400
    assert "options.approval_prompt" in response.json()["message"]
