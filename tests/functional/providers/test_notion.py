"""Notion quirks beyond the conformance suite: owner=user and no scopes, Basic auth with JSON
bodies and a pinned Notion-Version, the person from the token response, rotation, and a
workspace-owned grant refused."""

from __future__ import annotations

import pytest

from idbroker.connectors import refresh as upstream_refresh
from tests.fakes.providers.notion import FakeNotion
from tests.functional.providers.conftest import Driver


@pytest.fixture
def provider() -> FakeNotion:
    return FakeNotion()


async def test_login_reads_the_owner_from_the_token_response(driver: Driver,
                                                             provider: FakeNotion) -> None:
    app = await driver.setup(notion_version="2022-06-28")
    await driver.login(app, connection_scope="ignored.scope")
    assert provider.last_authorize["owner"] == "user"
    assert "scope" not in provider.last_authorize
    assert provider.versions_seen == {"2022-06-28"}
    user = await driver.user(await driver.reader())
    assert user["email"] == "jane@notion.example.com" and user["email_verified"] is False
    assert user["workspace_name"] == "Jane's Notion"


async def test_refresh_rotates(driver: Driver, provider: FakeNotion) -> None:
    app = await driver.setup()
    await driver.login(app)
    assert provider.versions_seen == {"2025-09-03"}
    rt = driver.broker.runtime
    connector = rt.connector((await rt.store.list_connections("notion"))[0])
    first = (await driver.user(await driver.reader()))["identities"][0]
    fresh = await upstream_refresh.refresh(connector, first["refresh_token"],
                                           subject=provider.user["id"], timeout=2.0)
    assert fresh.refresh_token and fresh.refresh_token != first["refresh_token"]
    assert not provider.live(first["refresh_token"])


async def test_workspace_owned_grant_is_refused(driver: Driver, provider: FakeNotion) -> None:
    app = await driver.setup()
    original = provider._tokens

    def workspace_owned(grant: str) -> dict:
        return {**original(grant), "owner": {"type": "workspace", "workspace": True}}

    provider._tokens = workspace_owned  # type: ignore[method-assign]
    result = await driver.login(app)
    assert result["error"] == "access_denied"


async def test_bad_notion_version_is_refused(driver: Driver, provider: FakeNotion) -> None:
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "notion", "strategy": "notion",
        "options": {**provider.connection_options(), "notion_version": "latest"}})
    assert response.status_code == 400
    assert "options.notion_version" in response.json()["message"]
