"""Provider quirks the conformance suite does not cover: GitHub OAuth apps (no expiry, no
refresh token), its email trust rule and numeric identity user_id; Facebook's pinned version and appsecret_proof."""

from __future__ import annotations

import pytest

from idbroker.connectors.providers import identity_user_id
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.facebook import FakeFacebook
from tests.fakes.providers.github import FakeGitHub
from tests.functional.providers.conftest import Driver


def test_identity_user_id_is_a_json_number_only_where_auth0_has_one() -> None:
    assert identity_user_id("github", "5833298") == 5833298
    # Beyond what a JavaScript reader holds exactly, or not a number at all: kept as text.
    assert identity_user_id("github", str(2**53)) == str(2**53)
    assert identity_user_id("github", "12a") == "12a"
    assert identity_user_id("facebook", "10158765") == "10158765"
    assert identity_user_id("twitter", "1234567890123") == "1234567890123"


@pytest.fixture(params=["github", "facebook"])
def provider(request: pytest.FixtureRequest) -> FakeProvider:
    return FakeGitHub() if request.param == "github" else FakeFacebook()


async def test_email_trust_rule(driver: Driver, provider: FakeProvider) -> None:
    if isinstance(provider, FakeGitHub):
        # No primary-and-verified address: the public profile email, never verified.
        provider.emails = [{"email": "jane@example.com", "verified": False, "primary": True,
                            "visibility": None}]
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["email_verified"] is False
    if isinstance(provider, FakeGitHub):
        assert user["email"] == "jane.public@example.com"
        identity = user["identities"][0]
        assert "refresh_token" not in identity  # an OAuth app's token neither expires nor renews
        assert provider.last_authorize["scope"] == "read:user user:email"
        assert provider.last_authorize["code_challenge_method"] == "S256"
    else:
        assert user["email"] == "jane.face@example.com"


async def test_without_the_email_scope(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup(scope="read:user" if isinstance(provider, FakeGitHub)
                             else "public_profile")
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["email_verified"] is False
    if isinstance(provider, FakeGitHub):
        assert provider.calls["emails"] == 1  # answered 404: no user:email scope
        assert user["email"] == "jane.public@example.com"
    else:
        assert "email" not in user


@pytest.mark.parametrize("provider", ["facebook"], indirect=True)
async def test_facebook_pinned_version(driver: Driver, provider: FakeProvider) -> None:
    assert isinstance(provider, FakeFacebook)
    app = await driver.setup(api_version="v20.0")
    await driver.login(app)
    assert provider.versions_seen == {"v20.0"}
    assert provider.last_authorize["scope"] == "email,public_profile"
