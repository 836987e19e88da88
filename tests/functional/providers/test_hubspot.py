"""HubSpot quirks beyond the conformance suite: the identity from the access token's
metadata, the email never trusted, a refresh that keeps the refresh token, revocation that
deletes the refresh token only, and tokens in URL paths kept out of the log."""

from __future__ import annotations

import logging

import pytest

from idbroker.connectors import refresh as upstream_refresh
from idbroker.lifecycle import revocation
from tests.fakes.providers.hubspot import FakeHubSpot
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeHubSpot:
    return FakeHubSpot()


async def test_identity_from_token_metadata(driver: Driver, provider: FakeHubSpot) -> None:
    app = await driver.setup(scope="oauth crm.objects.contacts.read",
                             optional_scope="content")
    await driver.login(app)
    assert provider.last_authorize["scope"] == "oauth crm.objects.contacts.read"
    assert provider.last_authorize["optional_scope"] == "content"
    user = await driver.user(await driver.reader())
    assert user["user_id"] == "hubspot|7811234"
    assert user["email"] == "jane@acme.example.com" and user["email_verified"] is False
    assert user["identities"][0]["scopes"] == ["oauth", "crm.objects.contacts.read", "content"]


async def test_refresh_keeps_the_refresh_token(driver: Driver, provider: FakeHubSpot) -> None:
    app = await driver.setup()
    await driver.login(app)
    rt = driver.broker.runtime
    connector = rt.connector((await rt.store.list_connections("hubspot"))[0])
    first = (await driver.user(await driver.reader()))["identities"][0]
    fresh = await upstream_refresh.refresh(connector, first["refresh_token"], subject="7811234",
                                           timeout=2.0)
    assert fresh.access_token != first["access_token"]
    assert fresh.refresh_token == first["refresh_token"]
    assert provider.live(first["refresh_token"])


async def test_revocation_deletes_only_the_refresh_token(
        driver: Driver, provider: FakeHubSpot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    app = await driver.setup()
    await driver.login(app)
    stored = (await driver.user(await driver.reader()))["identities"][0]
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204
    await revocation.settle()
    assert not provider.live(stored["refresh_token"])
    assert provider.live(stored["access_token"])  # documented: lives on until it expires
    # Both calls put a token in the URL path; the log shows neither.
    assert "/oauth/v1/access-tokens/[redacted]" in caplog.text
    assert "/oauth/v1/refresh-tokens/[redacted]" in caplog.text
    assert stored["access_token"] not in caplog.text
    assert stored["refresh_token"] not in caplog.text


async def test_client_credentials_refused_fails_the_login(driver: Driver,
                                                          provider: FakeHubSpot) -> None:
    app = await driver.setup(client_secret="not-the-secret")
    result = await driver.login(app)
    assert result["error"] == "access_denied"
    assert provider.calls["token"] == 1 and provider.calls["profile"] == 0
