"""Shared fixtures. The store is real: a fresh SQLite file per test, or the PostgreSQL named
by IDBROKER_TEST_DATABASE_URL (emptied before each test)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from idbroker.encoding import b64url_encode
from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault.db import create_engine, migrate
from idbroker.vault.schema import metadata
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.support import ISSUER, Broker



def _per_worker_postgres(url: str | None) -> str | None:
    """Under pytest-xdist each worker empties the database before every test, so each gets a
    database of its own (``<name>_gw0``, ``<name>_gw1``…), created on first use. Everything
    else reads the URL from the environment, which is pointed at that database here."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base, _, name = url.rpartition("/")
    own = f"{name}_{worker}"

    async def create() -> None:
        conn = await asyncpg.connect(base.replace("postgresql+asyncpg:", "postgresql:") + "/" + name)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", own):
                await conn.execute(f'CREATE DATABASE "{own}"')
        finally:
            await conn.close()

    asyncio.run(create())
    os.environ["IDBROKER_TEST_DATABASE_URL"] = f"{base}/{own}"
    return f"{base}/{own}"


PG_URL = _per_worker_postgres(os.environ.get("IDBROKER_TEST_DATABASE_URL"))
_pg_ready = False


async def _reset_postgres(url: str) -> None:
    """Migrate once per session; afterwards empty every table before each test."""
    global _pg_ready
    engine = create_engine(url)
    try:
        if not _pg_ready:
            async with engine.begin() as conn:
                await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                await conn.execute(sa.text("CREATE SCHEMA public"))
            await migrate(engine)
            _pg_ready = True
        names = ", ".join(t.name for t in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    if PG_URL:
        await _reset_postgres(PG_URL)
    return Settings(
        issuer=ISSUER, data_dir=tmp_path / "data", database_url=PG_URL,
        vault_key=b64url_encode(secrets.token_bytes(32)), upstream_timeout=2.0,
    )


@pytest.fixture
def upstream() -> FakeOIDCUpstream:
    return FakeOIDCUpstream()


@pytest.fixture
async def runtime(settings: Settings, upstream: FakeOIDCUpstream) -> AsyncIterator[Runtime]:
    transport = RoutingTransport({upstream.host: upstream.app})
    http = httpx.AsyncClient(transport=transport)
    rt = await Runtime.start(settings, http=http)
    yield rt
    await rt.close()
    await http.aclose()


@pytest.fixture
async def broker(runtime: Runtime, upstream: FakeOIDCUpstream) -> AsyncIterator[Broker]:
    app = create_app(runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        yield Broker(runtime=runtime, http=http, upstream=upstream)
