"""Reddit quirks beyond the conformance suite: duration=permanent for a refresh token (and
none with temporary), the User-Agent rule, the base-36 id, and revoking the refresh token."""

from __future__ import annotations

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.reddit import FakeReddit
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeReddit:
    return FakeReddit()


async def test_permanent_duration_and_profile(driver: Driver, provider: FakeReddit) -> None:
    app = await driver.setup()
    await driver.login(app)
    assert provider.last_authorize["duration"] == "permanent"
    assert provider.last_authorize["scope"] == "identity"
    user = await driver.user(await driver.reader())
    assert user["user_id"] == "reddit|1w72xq" and "email" not in user
    assert user["identities"][0]["refresh_token"]


async def test_temporary_duration_has_no_refresh_token(driver: Driver,
                                                       provider: FakeReddit) -> None:
    app = await driver.setup(duration="temporary")
    await driver.login(app)
    assert provider.last_authorize["duration"] == "temporary"
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "refresh_token" not in identity
    # Revocation then falls back to the access token.
    await driver.broker.mgmt("DELETE", driver.tokens_path())
    await revocation.settle()
    assert not provider.live(identity["access_token"])


async def test_a_generic_user_agent_is_throttled(driver: Driver, provider: FakeReddit) -> None:
    app = await driver.setup(user_agent="python-httpx/0.27")
    result = await driver.login(app)
    assert result["error"] in ("access_denied", "temporarily_unavailable")
    assert "code" not in result


async def test_bad_duration_is_refused(driver: Driver, provider: FakeReddit) -> None:
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "reddit", "strategy": "reddit",
        "options": {**provider.connection_options(), "duration": "forever"}})
    assert response.status_code == 400
    assert "options.duration" in response.json()["message"]
