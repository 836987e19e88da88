"""Yahoo quirks: ES256 ID tokens, fixed endpoints, and no revocation (the vault copy is
deleted and the outcome recorded as unsupported, without any upstream call)."""

from __future__ import annotations

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.yahoo import FakeYahoo
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeYahoo()


async def test_login_checks_an_es256_id_token(driver: Driver, provider: FakeProvider) -> None:
    assert isinstance(provider, FakeYahoo)
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["user_id"] == "yahoo|FAKEGUIDYAHOO7Q" and user["nickname"] == "jane"
    assert provider.calls["certs"] == 1
    assert provider.user["sub"] == user["identities"][0]["user_id"]


async def test_an_rs256_id_token_is_refused(driver: Driver, provider: FakeProvider) -> None:
    assert isinstance(provider, FakeYahoo)
    provider.id_alg = "RS256"  # not the algorithm Yahoo signs with
    app = await driver.setup()
    result = await driver.login(app)
    assert result["error"] == "access_denied" and "code" not in result


async def test_revocation_is_unsupported_and_local_only(driver: Driver,
                                                        provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204
    await revocation.settle()
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "access_token" not in identity and "refresh_token" not in identity
    assert set(provider.calls) <= {"authorize", "token", "userinfo", "certs"}


async def test_endpoints_cannot_be_overridden(driver: Driver) -> None:
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "y", "strategy": "yahoo", "options": {
            "client_id": "c", "client_secret": "s",
            "userinfo_endpoint": "https://evil.example/userinfo"}})
    assert response.status_code == 400
    assert "cannot be set for yahoo" in response.json()["message"]
