"""Brokers with low rate limits, in one process or several sharing Redis."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from idbroker.settings import RateLimit, RateLimits, Settings
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.support import ISSUER, Broker

# Redis database 7, or 7 + n for pytest-xdist worker gw<n>: each worker flushes its own.
REDIS_URL = f"redis://127.0.0.1:6379/{7 + int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:])}"
# A day-long window: a test never straddles two windows, except around midnight UTC, which
# `same_window` detects (the test then runs its burst again in the new window).
WINDOW = 86_400

MakeBroker = Callable[..., Awaitable[Broker]]


def limits(**groups: int) -> RateLimits:
    return RateLimits(groups={g: RateLimit(limit=n, window=WINDOW) for g, n in groups.items()})


def same_window(responses: list[httpx.Response]) -> bool:
    return len({r.headers["x-ratelimit-reset"] for r in responses}) == 1


@pytest.fixture
async def make_broker(settings: Settings, upstream: FakeOIDCUpstream) -> AsyncIterator[MakeBroker]:
    async with AsyncExitStack() as stack:
        async def make(**overrides: Any) -> Broker:
            transport = RoutingTransport({upstream.host: upstream.app})
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport))
            runtime = await Runtime.start(settings.model_copy(update=overrides), http=http)
            stack.push_async_callback(runtime.close)
            client = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(runtime=runtime)), base_url=ISSUER))
            return Broker(runtime=runtime, http=client, upstream=upstream)
        yield make


@pytest.fixture
async def redis_db() -> AsyncIterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.ConnectionError):
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}")
    await client.flushdb()
    yield REDIS_URL
    await client.flushdb()
    await client.aclose()
