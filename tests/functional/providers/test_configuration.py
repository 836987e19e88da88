"""POST /api/v2/connections with a catalog strategy: options validated with clear errors, and
the provider-specific authorize parameters (Google offline access and hosted domains)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from idbroker.connectors.providers import CONNECTORS
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.google import FakeGoogle
from tests.functional.providers.conftest import Driver
from tests.support import Broker


@pytest.fixture
def provider() -> FakeProvider:
    return FakeGoogle()


BAD_OPTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("google-oauth2", {"client_secret": "s"}, "options.client_id"),
    ("github", {"client_id": "c"}, "options.client_secret is required for github"),
    ("facebook", {"client_id": "c", "client_secret": 42}, "options.client_secret is required"),
    ("github", {"client_id": ["c"], "client_secret": "s"}, "options.client_id"),
    ("github", {"client_id": "c", "client_secret": "s", "pkce": [1]}, "options.pkce"),
    ("google-oauth2", {"client_id": "c", "client_secret": "s",
                       "allowed_hosted_domains": "example.com"}, "allowed_hosted_domains"),
    ("google-oauth2", {"client_id": "c", "client_secret": "s",
                       "allowed_hosted_domains": ["Example.COM"]}, "lower-case domain"),
    ("google-oauth2", {"client_id": "c", "client_secret": "s",
                       "allowed_hosted_domains": ["https://example.com"]}, "domain name"),
    ("google-oauth2", {"client_id": "c", "client_secret": "s",
                       "token_endpoint": "https://evil.example/token"}, "cannot be set"),
    ("facebook", {"client_id": "c", "client_secret": "s", "api_version": "21"},
     "options.api_version"),
    # Providers on the generic OAuth 2.0 connector with fixed endpoints and client auth.
    ("spotify", {"client_id": "c", "client_secret": "s",
                 "token_endpoint_auth_method": "client_secret_post"},
     "token_endpoint_auth_method cannot be set for spotify"),
    ("zoom", {"client_id": "c", "client_secret": "s", "profileURL": "https://evil.example/me",
              "revocationURL": "https://evil.example/revoke"},
     "profileURL, revocationURL cannot be set for zoom"),
    ("box", {"client_id": "c", "client_secret": "s", "pkce": True}, "Box does not support PKCE"),
    ("box", {"client_id": "c", "client_secret": "s",
             "token_endpoint_auth_method": "client_secret_basic"}, "cannot be set for box"),
]


async def test_bad_options_get_clear_errors(broker: Broker) -> None:
    for strategy, options, message in BAD_OPTIONS:
        response = await broker.mgmt("POST", "connections", json={
            "name": f"c-{strategy}", "strategy": strategy, "options": options})
        assert response.status_code == 400, (strategy, options, response.text)
        body = response.json()
        assert body["statusCode"] == 400 and message in body["message"], (message, body)
        assert "s" != body["message"]


@pytest.mark.parametrize(("strategy", "auth_method"), [
    ("spotify", "client_secret_basic"), ("zoom", "client_secret_basic"),
    ("box", "client_secret_post"), ("dropbox", "client_secret_post")])
def test_locked_endpoints_are_filled_in(strategy: str, auth_method: str) -> None:
    connector = CONNECTORS[strategy]
    options = connector.Options.model_validate({"client_id": "c"})
    module = importlib.import_module(connector.__module__)
    for name, url in module.ENDPOINTS.items():
        assert getattr(options, name) == url
    assert options.token_endpoint_auth_method == auth_method


async def test_good_options_are_stored_without_the_secret(broker: Broker) -> None:
    for strategy in ("google-oauth2", "github", "facebook"):
        response = await broker.mgmt("POST", "connections", json={
            "name": strategy, "strategy": strategy,
            "options": {"client_id": "app", "client_secret": "s3cr3t-value"}})
        assert response.status_code == 201, response.text
        assert "s3cr3t-value" not in response.text
        assert response.json()["strategy"] == strategy


async def test_google_offline_access_and_hosted_domain(driver: Driver,
                                                       provider: FakeProvider) -> None:
    app = await driver.setup(offline_access=True, allowed_hosted_domains=["corp.example.com"])
    await driver.login(app)
    sent = provider.last_authorize
    assert sent["access_type"] == "offline" and sent["prompt"] == "consent"
    assert sent["hd"] == "corp.example.com" and sent["include_granted_scopes"] == "true"
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert identity.get("refresh_token")


async def test_google_without_offline_gets_no_refresh_token(driver: Driver,
                                                            provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    assert "access_type" not in provider.last_authorize
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert "refresh_token" not in identity


async def test_google_refuses_another_hosted_domain(driver: Driver,
                                                    provider: FakeProvider) -> None:
    app = await driver.setup(allowed_hosted_domains=["other.example.com", "third.example.com"])
    result = await driver.login(app)
    assert result["error"] == "access_denied"
    assert "hd" not in provider.last_authorize  # a hint only when one domain is allowed
