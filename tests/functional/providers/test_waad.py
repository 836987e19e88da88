"""Microsoft Entra ID (``waad``): the multi-tenant issuer rule (``iss`` must be the issuer of
the token's own ``tid``; ``allowed_tenants``), forged issuer/tenant pairs, a single-tenant
app, option validation, email trust and refresh-token rotation."""

from __future__ import annotations

from typing import Any

import pytest

from idbroker.lifecycle import revocation
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.waad import USER_TENANT, FakeEntra
from tests.functional.providers.conftest import Driver
from tests.support import Broker

OTHER_TENANT = "0b6f0c1e-9d8a-4c7b-b6a5-4e3d2c1b0a99"


def issuer(tid: str) -> str:
    return f"https://login.microsoftonline.com/{tid}/v2.0"


@pytest.fixture
def provider() -> FakeProvider:
    return FakeEntra()


def fake(provider: FakeProvider) -> FakeEntra:
    assert isinstance(provider, FakeEntra)
    return provider


async def test_multi_tenant_login_checks_iss_against_the_token_tid(
        driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    result = await driver.login(app)
    assert "code" in result, result
    assert fake(provider).calls["authorize"] == 1
    user = await driver.user(await driver.reader())
    identity = user["identities"][0]
    assert user["user_id"] == f"waad|{fake(provider).user['sub']}"
    assert user["email_verified"] is True  # xms_edov: true in the ID token
    assert identity.get("refresh_token")  # offline_access is a default scope
    assert "offline_access" in provider.last_authorize["scope"].split()


@pytest.mark.parametrize("forged_tid, forged_iss", [
    # iss names another tenant than the signed tid
    (USER_TENANT, issuer(OTHER_TENANT)),
    # tid names another tenant than iss
    (OTHER_TENANT, issuer(USER_TENANT)),
    # the literal discovery template is not an issuer
    (USER_TENANT, "https://login.microsoftonline.com/{tenantid}/v2.0"),
    # a v1.0 issuer for the same tenant
    (USER_TENANT, f"https://sts.windows.net/{USER_TENANT}/"),
])
async def test_forged_issuer_or_tenant_is_refused(driver: Driver, provider: FakeProvider,
                                                  forged_tid: str, forged_iss: str) -> None:
    app = await driver.setup()
    fake(provider).tid = forged_tid
    fake(provider).forged_iss = forged_iss
    result = await driver.login(app)
    assert "code" not in result and result.get("error"), result
    users = await driver.broker.mgmt("GET", "users", token=await driver.reader())
    assert not (users.json() if isinstance(users.json(), list) else users.json()["users"])


async def test_allowed_tenants_restrict_a_multi_tenant_app(driver: Driver,
                                                           provider: FakeProvider) -> None:
    app = await driver.setup(allowed_tenants=[OTHER_TENANT])
    refused = await driver.login(app)
    assert refused["error"] == "access_denied" and "code" not in refused

    # A token from the allowed tenant whose iss is genuinely its own is accepted...
    fake(provider).tid = OTHER_TENANT
    accepted = await driver.login(app)
    assert "code" in accepted, accepted

    # ...but not one that claims an allowed tid while its iss names another tenant.
    fake(provider).forged_iss = issuer(USER_TENANT)
    forged = await driver.login(app)
    assert "code" not in forged


async def test_single_tenant_app(driver: Driver, provider: FakeProvider) -> None:
    entra = fake(provider)
    entra.tenant = USER_TENANT  # the app is registered in the user's tenant only
    app = await driver.setup(tenant=USER_TENANT)
    assert "code" in await driver.login(app)
    assert entra.calls["token"] == 1

    entra.tid = OTHER_TENANT
    refused = await driver.login(app)
    assert refused["error"] == "access_denied"


async def test_email_unverified_without_xms_edov(driver: Driver, provider: FakeProvider) -> None:
    fake(provider).optional_claims = {}
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["email"] == "jane@contoso.com" and user["email_verified"] is False


async def test_refresh_rotates_and_keeps_the_login_id_token(driver: Driver,
                                                            provider: FakeProvider) -> None:
    provider.access_ttl = 30
    app = await driver.setup()
    await driver.login(app)
    refresh_at_login = next(t for t, i in provider.tokens.items() if i.kind == "refresh_token")
    provider.access_ttl = 3600
    identity = (await driver.user(await driver.reader()))["identities"][0]
    assert provider.calls["token"] == 2
    assert identity["refresh_token"] != refresh_at_login  # the rotated one is stored
    assert provider.live(identity["refresh_token"]) and provider.live(identity["access_token"])


async def test_no_revocation_endpoint(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    response = await driver.broker.mgmt("DELETE", driver.tokens_path())
    assert response.status_code == 204, response.text
    await revocation.settle()  # the attempt made after the response
    assert provider.calls["revoke"] == 0


BAD: list[tuple[dict[str, Any], str]] = [
    ({}, "options.tenant"),
    ({"tenant": "consumers"}, "windowslive"),
    ({"tenant": "Not A Tenant"}, "tenant id"),
    ({"tenant": "contoso.onmicrosoft.com"}, "allowed_tenants"),
    ({"tenant": "organizations", "allowed_tenants": ["contoso.com"]}, "not a tenant id"),
    ({"tenant": "organizations", "allowed_tenants": USER_TENANT}, "list"),
    ({"tenant": USER_TENANT, "allowed_tenants": [OTHER_TENANT]}, "other tenants"),
    ({"tenant": "common", "issuer": issuer(OTHER_TENANT)}, "cannot be set for waad"),
    ({"tenant": "common", "token_endpoint": "https://evil.example/token"}, "cannot be set"),
]


async def test_bad_options_get_clear_errors(broker: Broker) -> None:
    for options, message in BAD:
        response = await broker.mgmt("POST", "connections", json={
            "name": "entra", "strategy": "waad",
            "options": {"client_id": "c", "client_secret": "s", **options}})
        assert response.status_code == 400, (options, response.text)
        assert message in response.json()["message"], (message, response.json())
    good = await broker.mgmt("POST", "connections", json={
        "name": "entra", "strategy": "waad",
        "options": {"client_id": "c", "client_secret": "s", "tenant": "contoso.onmicrosoft.com",
                    "allowed_tenants": [USER_TENANT]}})
    assert good.status_code == 201, good.text
