"""Keycloak and Okta quirks the conformance suite does not cover: realm/domain options and
their errors, the issuer pinned to the realm, offline_access on demand."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.keycloak import FakeKeycloak
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture
def provider() -> FakeProvider:
    return FakeKeycloak()


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("keycloak", {"base_url": "https://sso.example.com"}, "options.realm is required"),
    ("keycloak", {"base_url": "https://sso.example.com", "realm": "a/b"}, "realm name"),
    ("keycloak", {"realm": "acme"}, "options.base_url is required"),
    ("keycloak", {"base_url": "sso.example.com", "realm": "acme"}, "must be a URL"),
    ("keycloak", {"base_url": "https://sso.example.com", "realm": "acme",
                  "token_endpoint": "https://evil.example/token"}, "cannot be set for keycloak"),
    ("okta", {}, "options.domain is required"),
    ("okta", {"domain": "https://dev-1.okta.com"}, "no https://"),
    ("okta", {"domain": "dev-1.okta.com", "authorization_server_id": "../x"},
     "authorization_server_id"),
    ("okta", {"domain": "dev-1.okta.com", "issuer": "https://evil.example"},
     "cannot be set for okta"),
    ("okta", {"domain": "dev-1.okta.com", "offline_access": "yes"}, "offline_access"),
]


async def test_bad_options_get_clear_errors(broker: Broker) -> None:
    for strategy, options, message in BAD:
        response = await broker.mgmt("POST", "connections", json={
            "name": f"c-{strategy}", "strategy": strategy,
            "options": {"client_id": "c", "client_secret": "s", **options}})
        assert response.status_code == 400, (options, response.text)
        assert message in response.json()["message"], (message, response.json())


async def test_discovery_for_another_issuer_refuses_the_login(driver: Driver,
                                                              provider: FakeProvider) -> None:
    assert isinstance(provider, FakeKeycloak)
    provider.issuer = "https://sso.example.com/realms/other"  # the doc now names another realm
    app = await driver.setup()
    params, _, _ = driver.broker.authorize_params(app, connection="keycloak")
    started = await driver.broker.start(params)
    assert started.status_code != 302 or "sso.example.com" not in \
        started.headers.get("location", "")
    assert provider.calls["authorize"] == 0 and provider.calls["token"] == 0


async def test_offline_access_option_asks_for_an_offline_token(driver: Driver,
                                                               provider: FakeProvider) -> None:
    app = await driver.setup(offline_access=True)
    await driver.login(app)
    assert "offline_access" in provider.last_authorize["scope"].split()
    assert provider.last_authorize["code_challenge_method"] == "S256"
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity["refresh_token"].startswith("rt.")
