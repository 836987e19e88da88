"""GitLab quirks beyond the conformance suite: a self-managed instance under a relative URL
root (`base_url`), refresh-token rotation, options refused with clear errors."""

from __future__ import annotations

import pytest

from idbroker.connectors.providers.gitlab import GitLabConnector
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.gitlab import FakeGitLab
from tests.functional.providers.conftest import Driver
from tests.support import Broker

SELF_MANAGED = "https://git.corp.example/gitlab"


@pytest.fixture
def provider() -> FakeProvider:
    return FakeGitLab(SELF_MANAGED)


async def test_self_managed_instance_end_to_end(driver: Driver, provider: FakeGitLab) -> None:
    provider.access_ttl = 30  # stale on the next read: refreshed at the instance
    app = await driver.setup()
    result = await driver.login(app)
    assert "code" in result
    assert provider.calls["authorize"] == provider.calls["token"] == 1
    first_refresh = next(t for t, i in provider.tokens.items() if i.kind == "refresh_token")
    provider.access_ttl = 7200
    user = await driver.user(await driver.reader())
    assert user["user_id"] == "gitlab|1234567" and user["email_verified"] is True
    identity = user["identities"][0]
    # Rotation: the used refresh token is dead, the new one is stored.
    assert identity["refresh_token"] != first_refresh and not provider.live(first_refresh)
    assert provider.calls["token"] == 2
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    check = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation",
                                     token=checker)
    assert check.json()["active"] is True and check.json()["method"] == "token_info"
    assert provider.calls["validate"] == 1
    assert provider.last_authorize["code_challenge_method"] == "S256"
    assert provider.last_authorize["nonce"]


@pytest.mark.parametrize("options, message", [
    ({"base_url": "http://gitlab.example.com"}, "https URL of a GitLab instance"),
    ({"base_url": "https://gitlab.example.com/?x=1"}, "without query"),
    ({"base_url": 7}, "must be a string"),
    ({"token_endpoint": "https://evil.example/token"}, "set options.base_url"),
    ({"discovery_url": "https://gitlab.com/.well-known/openid-configuration"}, "cannot be set"),
])
async def test_bad_options_get_clear_errors(broker: Broker, options: dict[str, object],
                                            message: str) -> None:
    response = await broker.mgmt("POST", "connections", json={
        "name": "gl", "strategy": "gitlab",
        "options": {"client_id": "c", "client_secret": "s", **options}})
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


def test_base_url_derives_every_endpoint() -> None:
    options = GitLabConnector.Options.model_validate(
        {"client_id": "c", "base_url": "https://git.corp.example/gitlab/"})
    assert options.base_url == "https://git.corp.example/gitlab"
    assert options.issuer == "https://git.corp.example/gitlab"
    assert options.token_endpoint == "https://git.corp.example/gitlab/oauth/token"
    assert options.jwks_uri == "https://git.corp.example/gitlab/oauth/discovery/keys"
    default = GitLabConnector.Options.model_validate({"client_id": "c"})
    assert default.authorization_endpoint == "https://gitlab.com/oauth/authorize"
