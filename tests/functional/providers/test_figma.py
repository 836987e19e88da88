"""Figma quirks beyond the conformance suite: PKCE and Basic auth at api.figma.com, the
separate refresh endpoint that keeps the refresh token, no revocation, and the token's user
checked against /v1/me."""

from __future__ import annotations

import pytest

from idbroker.connectors import refresh as upstream_refresh
from idbroker.lifecycle import revocation
from tests.fakes.providers.figma import FakeFigma
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeFigma:
    return FakeFigma()


async def test_login_with_pkce_and_unverified_email(driver: Driver, provider: FakeFigma) -> None:
    app = await driver.setup()
    await driver.login(app)
    assert provider.last_authorize["code_challenge_method"] == "S256"
    assert provider.last_authorize["scope"] == "current_user:read"
    user = await driver.user(await driver.reader())
    assert user["email"] == "jane@figma.example.com" and user["email_verified"] is False


async def test_refresh_keeps_the_refresh_token(driver: Driver, provider: FakeFigma) -> None:
    app = await driver.setup()
    await driver.login(app)
    rt = driver.broker.runtime
    connector = rt.connector((await rt.store.list_connections("figma"))[0])
    first = (await driver.user(await driver.reader()))["identities"][0]
    fresh = await upstream_refresh.refresh(connector, first["refresh_token"],
                                           subject=provider.user["id"], timeout=2.0)
    assert fresh.access_token != first["access_token"] and fresh.refresh_token is None
    merged = upstream_refresh.merge(
        upstream_refresh.TokenSet(access_token=first["access_token"],
                                  refresh_token=first["refresh_token"]),
        fresh, now=0, assumed_lifetime_s=60)
    assert merged.refresh_token == first["refresh_token"]


async def test_no_revocation_endpoint(driver: Driver, provider: FakeFigma) -> None:
    app = await driver.setup()
    await driver.login(app)
    stored = (await driver.user(await driver.reader()))["identities"][0]
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204
    await revocation.settle()
    assert provider.live(stored["access_token"])  # nothing Figma could be asked to do


async def test_token_of_another_user_is_refused(driver: Driver, provider: FakeFigma) -> None:
    app = await driver.setup()
    provider.token_user_id = "999"
    result = await driver.login(app)
    assert result["error"] == "access_denied"
