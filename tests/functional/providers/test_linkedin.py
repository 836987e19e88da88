"""LinkedIn quirks: refresh tokens only for approved apps, credentials only in the form
body, introspectToken's answers, and the string email_verified of its ID token."""

from __future__ import annotations

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.linkedin import FakeLinkedIn
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeProvider:
    return FakeLinkedIn()


async def test_an_unapproved_app_gets_no_refresh_token(driver: Driver,
                                                       provider: FakeProvider) -> None:
    assert isinstance(provider, FakeLinkedIn)
    provider.refresh_allowed = False
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert "refresh_token" not in user["identities"][0]
    assert user["email_verified"] is True  # "true" in the ID token, true in userinfo
    assert "locale" not in user.get("user_metadata", {})


async def test_basic_client_auth_is_refused_by_linkedin(driver: Driver,
                                                        provider: FakeProvider) -> None:
    app = await driver.setup(token_endpoint_auth_method="client_secret_basic")
    result = await driver.login(app)
    assert result["error"] == "access_denied"
    assert provider.calls["token"] == 1


async def test_introspection_of_another_apps_token_is_an_upstream_error(
        driver: Driver, provider: FakeProvider) -> None:
    assert isinstance(provider, FakeLinkedIn)
    app = await driver.setup()
    await driver.login(app)
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    provider.fail("validate", 200, {"active": True, "client_id": "another-app",
                                    "status": "active", "scope": "openid", "auth_type": "3L"})
    response = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation",
                                        token=checker)
    assert response.status_code == 502, response.text
    live = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    assert live.json()["active"] is True and live.json()["scope"] == "openid profile email"
