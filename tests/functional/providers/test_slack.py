"""Sign in with Slack quirks beyond the conformance suite: Web API errors with HTTP 200 and
`ok: false`, no PKCE or prompt sent, the `team` option, apps without token rotation (no
refresh token), and Slack's URL-named workspace claims."""

from __future__ import annotations

import pytest

from idbroker.connectors import refresh as upstream_refresh
from idbroker.errors import UpstreamTokenRejected
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.slack import FakeSlack
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture
def provider() -> FakeProvider:
    return FakeSlack()


async def test_login_sends_only_documented_parameters(driver: Driver,
                                                      provider: FakeSlack) -> None:
    app = await driver.setup(team="T0R7GR")
    await driver.login(app, prompt="login")
    sent = provider.last_authorize
    assert sent["team"] == "T0R7GR" and sent["nonce"]
    assert not {"code_challenge", "prompt"} & set(sent)
    user = await driver.user(await driver.reader())
    assert user["team_id"] == "T0R7GR" and user["team_domain"] == "kraneflannel"
    assert "ok" not in user and "https://slack.com/team_id" not in user


async def test_ok_false_errors_are_read_despite_http_200(driver: Driver,
                                                         provider: FakeSlack) -> None:
    app = await driver.setup()
    provider.fail("token", 200, {"ok": False, "error": "bad_client_secret"})
    refused = await driver.login(app)
    assert refused["error"] == "access_denied"

    await driver.login(app)
    rt = driver.broker.runtime
    connector = rt.connector((await rt.store.list_connections(provider.strategy))[0])
    provider.fail("token", 200, {"ok": False, "error": "invalid_refresh_token"})
    with pytest.raises(UpstreamTokenRejected):
        await upstream_refresh.refresh(connector, "xoxe-1-dead", subject="U0R7JM", timeout=2.0)

    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    provider.fail("validate", 200, {"ok": False, "error": "token_revoked"})
    dead = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    assert dead.status_code == 200, dead.text
    assert dead.json()["active"] is False and dead.json()["method"] == "auth_test"


async def test_without_token_rotation_there_is_no_refresh_token(driver: Driver,
                                                                provider: FakeSlack) -> None:
    provider.rotation = False
    app = await driver.setup()
    await driver.login(app)
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity["access_token"].startswith("xoxp-") and "refresh_token" not in identity


async def test_bad_team_and_fixed_endpoints(broker: Broker) -> None:
    for options, message in (({"team": "not a team"}, "Slack workspace ID"),
                             ({"token_endpoint": "https://evil.example/t"}, "cannot be set")):
        response = await broker.mgmt("POST", "connections", json={
            "name": "slack", "strategy": "sign-in-with-slack",
            "options": {"client_id": "c", "client_secret": "s", **options}})
        assert response.status_code == 400 and message in response.json()["message"]
