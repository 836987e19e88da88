"""LINE quirks: HS256 ID tokens verified by LINE's /verify, email never trusted, and an
access token of another channel refused by validation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.line import FakeLine
from tests.functional.providers.conftest import Driver


class _Forgetful(dict[str, Any]):
    def __setitem__(self, key: str, value: Any) -> None:
        pass


@pytest.fixture
def provider() -> FakeProvider:
    return FakeLine()


async def test_id_token_is_verified_by_line_and_email_is_unverified(
        driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    assert provider.calls["verify_id_token"] == 1 and provider.calls["certs"] == 0
    user = await driver.user(await driver.reader())
    assert user["email"] == "jane@example.com" and user["email_verified"] is False
    assert user["user_id"] == "line|U4af4980629d1b2c3d4e5f60718293a4b"


async def test_line_rejecting_the_id_token_refuses_the_login(driver: Driver,
                                                             provider: FakeProvider) -> None:
    assert isinstance(provider, FakeLine)
    app = await driver.setup()
    provider.id_tokens = _Forgetful()  # LINE answers "Invalid IdToken." for what it signed
    result = await driver.login(app)
    assert result["error"] == "access_denied" and "code" not in result
    assert provider.calls["verify_id_token"] == 1 and provider.calls["userinfo"] == 0


async def test_a_token_of_another_channel_is_refused(driver: Driver,
                                                     provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    provider.fail("validate", 200, {"scope": "profile", "client_id": "9999999999",
                                    "expires_in": 100})
    response = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation",
                                        token=checker)
    assert response.status_code == 502, response.text
