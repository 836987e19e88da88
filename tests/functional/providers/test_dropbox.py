"""Dropbox quirks the conformance suite does not cover: offline access is what yields a
refresh token, the profile is an RPC POST, and an unverified address is never trusted."""

from __future__ import annotations

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.dropbox import FakeDropbox
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeDropbox()


async def test_offline_access_asks_for_a_refresh_token_with_pkce(driver: Driver,
                                                                 provider: FakeDropbox) -> None:
    app = await driver.setup()
    await driver.login(app)
    sent = provider.last_authorize
    assert sent["token_access_type"] == "offline"
    assert sent["code_challenge_method"] == "S256" and sent["scope"] == "account_info.read"
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert provider.tokens[identity["refresh_token"]].kind == "refresh_token"
    assert provider.calls["profile"] == 1


async def test_online_access_has_no_refresh_token(driver: Driver, provider: FakeDropbox) -> None:
    app = await driver.setup(offline_access=False)
    await driver.login(app)
    assert "token_access_type" not in provider.last_authorize
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "refresh_token" not in identity and provider.live(identity["access_token"])


async def test_unverified_email_is_not_trusted(driver: Driver, provider: FakeDropbox) -> None:
    provider.account["email_verified"] = False
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["email"] == "franz@dropbox.com" and user["email_verified"] is False


async def test_a_missing_scope_refuses_the_login(driver: Driver, provider: FakeDropbox) -> None:
    # Without account_info.read Dropbox refuses get_current_account: no user is made.
    app = await driver.setup(scope="files.metadata.read")
    result = await driver.login(app)
    assert result["error"] == "access_denied"
    assert provider.calls["profile"] == 1


async def test_fixed_endpoints_cannot_be_redirected(driver: Driver) -> None:
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "dbx", "strategy": "dropbox",
        "options": {"client_id": "k", "client_secret": "s",
                    "tokenURL": "https://evil.example/token"}})
    assert response.status_code == 400
    assert "tokenURL cannot be set for dropbox" in response.json()["message"]
