"""One conformance suite over the whole provider catalog: each provider's login and profile
mapping, refresh, revocation, validation and upstream-error paths, against a fake that speaks
that provider's documented wire format (tests/fakes/providers/)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from idbroker.connectors import refresh as upstream_refresh
from idbroker.connectors.oauth2 import OAuth2Connector
from idbroker.connectors.oidc import OIDCConnector
from idbroker.connectors.providers import CATALOG, CONNECTORS
from idbroker.errors import UpstreamTokenRejected
from idbroker.lifecycle import revocation
from tests.fakes.providers.base import FakeProvider
from tests.functional.providers.conftest import FAKES, Driver
from tests.functional.lifecycle.test_refresh import expire

STRATEGIES = sorted(CATALOG)


@pytest.fixture(params=STRATEGIES)
def provider(request: pytest.FixtureRequest) -> FakeProvider:
    fake: FakeProvider = FAKES[request.param]()
    return fake


def test_every_catalog_entry_has_a_connector_and_a_fake() -> None:
    assert set(CATALOG) == set(CONNECTORS) == set(FAKES)
    for strategy, spec in CATALOG.items():
        connector = CONNECTORS[strategy]
        assert connector.strategy == strategy and connector.is_social
        assert hasattr(connector, "revoke_tokens") == spec.supports_revocation
        assert hasattr(connector, "validate_token")
        generic = issubclass(connector, (OIDCConnector, OAuth2Connector))
        assert (hasattr(connector, "refresh_tokens") or generic) == spec.supports_refresh


async def _stored(driver: Driver) -> dict[str, Any]:
    user = await driver.user(await driver.reader())
    return user["identities"][0]


async def test_login_maps_the_profile(driver: Driver, provider: FakeProvider) -> None:
    spec = CATALOG[provider.strategy]
    app = await driver.setup()
    result = await driver.login(app, **provider.login_extra())
    assert "code" in result, result
    requested = provider.last_authorize.get("scope", "").replace(",", " ").split()
    assert set(spec.default_scopes) <= set(requested)

    expected = provider.expected_profile()
    user = await driver.user(await driver.reader())
    assert user["user_id"] == expected["user_id"]
    for key in ("email", "email_verified", "name", "given_name", "family_name", "nickname",
                "picture"):
        if key in expected:
            assert user.get(key) == expected[key], key
    identity = user["identities"][0]
    assert identity["provider"] == identity["connection"] == provider.strategy
    assert identity["isSocial"] is True
    # Auth0's JSON type: a number for GitHub, a string for the others; never both.
    assert identity["user_id"] == (int(expected["identity_user_id"]) if spec.numeric_user_id
                                   else expected["identity_user_id"])
    assert provider.live(identity["access_token"])

    # Without read:user_idp_tokens no token is shown.
    plain = await driver.user(await driver.broker.mgmt_token(["read:users"]))
    assert "access_token" not in plain["identities"][0]


async def test_connection_scope_adds_to_the_default_scopes(driver: Driver,
                                                           provider: FakeProvider) -> None:
    if getattr(provider, "has_no_scopes", False):
        pytest.skip("the provider has no OAuth scopes (Notion, X OAuth 1.0a)")
    app = await driver.setup()
    await driver.login(app, connection_scope="extra.scope")
    requested = provider.last_authorize["scope"].replace(",", " ").split()
    assert "extra.scope" in requested
    assert set(CATALOG[provider.strategy].default_scopes) <= set(requested)


async def test_refresh_renews_the_stored_token(driver: Driver, provider: FakeProvider) -> None:
    if not CATALOG[provider.strategy].supports_refresh:
        await _served_as_issued(driver, provider)
        return
    provider.access_ttl = 30  # inside the broker's refresh margin: stale on the next read
    app = await driver.setup()
    await driver.login(app, **provider.login_extra())
    at_login = [t for t, i in provider.tokens.items() if i.kind == "access_token"][-1]
    provider.access_ttl = 3600
    rt = driver.broker.runtime
    connection = (await rt.store.list_connections(provider.strategy))[0]
    connector = rt.connector(connection)
    first = await _stored(driver)

    if not first.get("refresh_token") or not getattr(provider, "reports_expiry", True):
        # Facebook's long-lived token is not stale yet, and a provider that sends no
        # expires_in (Notion) is refreshed only after the assumed lifetime: make it so.
        user = await rt.store.get_user(provider.expected_profile()["user_id"])
        assert user is not None
        await expire(driver.broker, user.identities[0].id)
        first = await _stored(driver)
    # Refresh on read, through the lifecycle: the reader got the renewed token. Providers
    # without refresh tokens (Facebook) renew by exchanging the access token itself.
    assert first["access_token"] != at_login
    assert provider.live(first["access_token"])
    assert first["expires_in"] > 60
    if first.get("refresh_token"):
        assert provider.calls["token"] == 2

    # A grant the user withdrew at the provider is reported dead, not retried.
    provider.kill_grant(first["access_token"])
    with pytest.raises(UpstreamTokenRejected):
        await upstream_refresh.refresh(connector, first.get("refresh_token"), subject="-",
                                       timeout=2.0, access_token=first["access_token"])


async def _served_as_issued(driver: Driver, provider: FakeProvider) -> None:
    """A provider without refresh (X OAuth 1.0a): its token is stored without expiry, every
    read serves it as issued without calling the provider, and a refresh is refused."""
    app = await driver.setup()
    await driver.login(app, **provider.login_extra())
    first = await _stored(driver)
    again = await _stored(driver)
    assert again["access_token"] == first["access_token"]
    assert provider.live(first["access_token"])
    assert "expires_in" not in first and "refresh_token" not in first
    assert provider.calls["token"] == 1
    rt = driver.broker.runtime
    connection = (await rt.store.list_connections(provider.strategy))[0]
    connector = rt.connector(connection)
    assert not upstream_refresh.supports_refresh(connector)
    with pytest.raises(upstream_refresh.RefreshUnsupported):
        await upstream_refresh.refresh(connector, None, subject="-", timeout=2.0,
                                       access_token=first["access_token"])


async def test_revocation_ends_the_grant_upstream(driver: Driver,
                                                  provider: FakeProvider) -> None:
    if not CATALOG[provider.strategy].supports_revocation:
        pytest.skip("the provider documents no revocation")
    app = await driver.setup()
    await driver.login(app, **provider.login_extra())
    stored = await _stored(driver)
    provider.fail("revoke", 503, {"error": "temporarily_unavailable"},
                  headers={"Retry-After": "1"})
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204, response.text
    await revocation.settle()
    assert provider.live(stored["access_token"])  # the first attempt met a 503: queued again

    rt = driver.broker.runtime
    assert await revocation.process_due(rt, now=int(time.time() * 1000) + 3_600_000) == 1
    # HubSpot and Auth0 document that revoking the refresh token leaves issued access tokens
    # alive until they expire (ProviderSpec.revocation_spares_access_token).
    spared = CATALOG[provider.strategy].revocation_spares_access_token
    assert provider.live(stored["access_token"]) is spared
    if stored.get("refresh_token"):
        assert not provider.live(stored["refresh_token"])
    assert provider.calls["revoke"] == 2


async def test_validation_asks_the_provider(driver: Driver, provider: FakeProvider) -> None:
    spec = CATALOG[provider.strategy]
    app = await driver.setup()
    await driver.login(app, **provider.login_extra())
    stored = await _stored(driver)
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])

    live = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    assert live.status_code == 200, live.text
    assert live.json()["active"] is True and live.json()["method"] == spec.validation_method
    assert stored["access_token"] not in live.text

    provider.fail("validate", 503, {"error": "backend_error"})
    down = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    assert down.status_code == 502, down.text

    provider.kill_grant(stored["access_token"])
    dead = await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    assert dead.status_code == 200 and dead.json()["active"] is False
    assert dead.json()["method"] == spec.validation_method


async def test_token_endpoint_error_refuses_the_login(driver: Driver,
                                                      provider: FakeProvider) -> None:
    app = await driver.setup()
    status, body = provider.token_error()
    provider.fail("token", status, body)
    result = await driver.login(app)
    assert result["error"] == "access_denied" and "code" not in result
    users = await driver.broker.mgmt("GET", "users", token=await driver.reader())
    assert users.json() in ([], {"users": [], "total": 0, "start": 0, "limit": 50}) or \
        not users.json().get("users")


async def test_no_token_or_secret_reaches_the_log(driver: Driver, provider: FakeProvider,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = await driver.setup()
    await driver.login(app, **provider.login_extra())
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    await driver.broker.mgmt("DELETE", driver.tokens_path())
    await revocation.settle()
    revokes = 1 if CATALOG[provider.strategy].supports_revocation else 0
    assert provider.calls["validate"] == 1 and provider.calls["revoke"] == revokes
    text = caplog.text
    assert "HTTP Request" in text  # httpx did log the calls, without their query strings
    for issued in provider.tokens:
        assert issued not in text
    assert provider.client_secret not in text
