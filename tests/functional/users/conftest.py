"""Helpers for the users tests: a module-scoped broker (set-up costs ~1 s; many cases here only
read) built exactly like tests/conftest.py's ``broker`` fixture, and small API shortcuts."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa

from idbroker.encoding import b64url_encode
from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault.schema import metadata
from tests.conftest import PG_URL, _reset_postgres
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.support import ISSUER, Broker

USER_IDP_TOKEN_KEYS = ("access_token", "refresh_token", "access_token_secret", "expires_in",
                       "id_token")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Broker]:
    if PG_URL:
        await _reset_postgres(PG_URL)
    settings = Settings(
        issuer=ISSUER, data_dir=tmp_path_factory.mktemp("users") / "data", database_url=PG_URL,
        vault_key=b64url_encode(secrets.token_bytes(32)), upstream_timeout=2.0)
    upstream = FakeOIDCUpstream()
    http = httpx.AsyncClient(transport=RoutingTransport({upstream.host: upstream.app}))
    runtime = await Runtime.start(settings, http=http)
    try:
        app = create_app(runtime=runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=ISSUER) as client:
            yield Broker(runtime=runtime, http=client, upstream=upstream)
    finally:
        await runtime.close()
        await http.aclose()


def uid_path(user_id: str) -> str:
    return quote(user_id, safe="")


async def create_user(broker: Broker, **body: Any) -> dict[str, Any]:
    response = await broker.mgmt("POST", "users", json={"connection": "acme-oidc", **body})
    assert response.status_code == 201, response.text
    return response.json()


def secret_forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, raw.hex(), base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("=")]


def assert_no_token_keys(body: Any) -> None:
    """No IdP token key anywhere in a users response, at any depth."""
    if isinstance(body, dict):
        for key, value in body.items():
            assert key not in USER_IDP_TOKEN_KEYS, key
            assert_no_token_keys(value)
    elif isinstance(body, list):
        for item in body:
            assert_no_token_keys(item)


async def table_rows(broker: Broker, name: str) -> list[dict[str, Any]]:
    table = metadata.tables[name]
    async with broker.runtime.store.engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(sa.select(table))]


async def all_stored_text(broker: Broker, data_dir: Path | None = None) -> str:
    """Every row of every table, as text (SQLite and PostgreSQL alike)."""
    dump = []
    async with broker.runtime.store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                dump.append(repr(tuple(row)))
    return "\n".join(dump)
