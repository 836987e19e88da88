"""Atlassian (3LO) quirks beyond the conformance suite: `audience` and `prompt=consent` on
every authorization, a JSON token request, `offline_access` as the refresh-token switch,
rotation, the `email_verified` rule, and no documented revocation."""

from __future__ import annotations

import pytest

from tests.fakes.providers.atlassian import FakeAtlassian
from tests.fakes.providers.base import FakeProvider
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeAtlassian()


async def test_authorize_and_rotation(driver: Driver, provider: FakeAtlassian) -> None:
    provider.access_ttl = 30  # stale on the next read
    app = await driver.setup(upstream_params={"audience": {"value": "other.example"}})
    await driver.login(app)
    sent = provider.last_authorize
    assert sent["audience"] == "api.atlassian.com" and sent["prompt"] == "consent"
    assert sent["scope"] == "read:me offline_access"
    first_refresh = next(t for t, i in provider.tokens.items() if i.kind == "refresh_token")
    provider.access_ttl = 3600
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity["refresh_token"] != first_refresh and not provider.live(first_refresh)
    assert provider.calls["token"] == 2


async def test_without_offline_access_no_refresh_token(driver: Driver,
                                                       provider: FakeAtlassian) -> None:
    provider.user["email_verified"] = False
    app = await driver.setup(scope="read:me")
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert "refresh_token" not in user["identities"][0]
    assert user["email"] == "ada@atl.example" and user["email_verified"] is False


async def test_bad_client_secret_refuses_the_login(driver: Driver,
                                                   provider: FakeAtlassian) -> None:
    app = await driver.setup(client_secret="wrong-secret")
    result = await driver.login(app)
    assert result["error"] == "access_denied"
    assert provider.calls["token"] == 1 and provider.calls["profile"] == 0
