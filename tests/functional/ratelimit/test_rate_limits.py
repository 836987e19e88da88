"""Rate limits: headers on every API response, 429 in each API's error shape, buckets by
authenticated client or real peer address, and one budget shared by processes via Redis."""

from __future__ import annotations

import time

import httpx
import pytest
import redis.asyncio as redis
from auth0.authentication.rest import JsonResponse
from auth0.authentication.exceptions import RateLimitError
from pydantic import SecretStr

from idbroker.settings import RateLimit
from tests.functional.ratelimit.conftest import WINDOW, MakeBroker, limits, same_window
from tests.support import ISSUER, Broker

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def cc_body(client_id: str, secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
            "audience": f"{ISSUER}api/v2/"}


async def test_every_api_response_carries_the_headers(broker: Broker) -> None:
    token = await broker.admin_token()
    responses = [
        await broker.mgmt("GET", "clients", token=token),
        await broker.mgmt("GET", "clients", token=token),
        await broker.mgmt("GET", "no-such-resource", token=token),
        await broker.http.post("/oauth/token", json={"grant_type": "client_credentials"}),
        await broker.http.get("/authorize"),
        await broker.http.get("/userinfo"),
        await broker.http.get("/.well-known/jwks.json"),
    ]
    for response in responses:
        for name in HEADERS:
            assert response.headers[name].isdigit(), (response.request.url, name)
        assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())
    first, second = (int(r.headers["x-ratelimit-remaining"]) for r in responses[:2])
    assert second == first - 1 and responses[0].headers["x-ratelimit-limit"] == "6000"


async def test_token_endpoint_limited_per_authenticated_client(make_broker: MakeBroker) -> None:
    broker = await make_broker(rate_limits=limits(token=2))
    broker.runtime.settings.rate_limits.enabled = False  # set-up is not what is measured
    a_id, a_secret = await broker.m2m_client(["read:clients"])
    b_id, b_secret = await broker.m2m_client(["read:clients"])
    broker.runtime.settings.rate_limits.enabled = True
    for _attempt in range(2):
        burst = [await broker.http.post("/oauth/token", json=cc_body(a_id, a_secret))
                 for _ in range(3)]
        if same_window(burst):
            break
    assert [r.status_code for r in burst] == [200, 200, 429]
    over = burst[-1]
    assert over.json() == {"error": "too_many_requests",
                           "error_description": over.json()["error_description"]}
    assert 1 <= int(over.headers["retry-after"]) <= WINDOW
    assert over.headers["x-ratelimit-remaining"] == "0"
    # auth0-python parses the 429 into RateLimitError with an integer reset_at.
    with pytest.raises(RateLimitError) as caught:
        JsonResponse(over).content()
    assert caught.value.reset_at == int(over.headers["x-ratelimit-reset"])
    assert caught.value.error_code == "too_many_requests"

    # Client B has its own budget; a wrong secret sent under B's client_id is counted
    # against the caller's address, so it cannot spend B's budget.
    wrong = [await broker.http.post("/oauth/token", json=cc_body(b_id, "wrong-secret"))
             for _ in range(3)]
    assert [r.status_code for r in wrong][-1] == 429
    allowed = [await broker.http.post("/oauth/token", json=cc_body(b_id, b_secret))
               for _ in range(2)]
    assert [r.status_code for r in allowed] == [200, 200]


async def test_management_limit_per_client_and_auth0_shape(make_broker: MakeBroker) -> None:
    broker = await make_broker(rate_limits=limits(management=3))
    broker.runtime.settings.rate_limits.enabled = False
    token = await broker.admin_token()
    strict_id, strict_secret = await broker.m2m_client(["read:clients"])
    strict = (await broker.token_for(strict_id, strict_secret))["access_token"]
    broker.runtime.settings.rate_limits.clients[strict_id] = {
        "management": RateLimit(limit=1, window=WINDOW)}
    broker.runtime.settings.rate_limits.enabled = True
    for _attempt in range(2):
        burst = [await broker.mgmt("GET", "clients", token=token) for _ in range(4)]
        if same_window(burst):
            break
    assert [r.status_code for r in burst] == [200, 200, 200, 429]
    assert burst[-1].json() == {"statusCode": 429, "error": "Too Many Requests",
                                "message": "Global limit has been reached",
                                "errorCode": "too_many_requests"}
    assert burst[-1].headers["retry-after"].isdigit()
    # The per-client override: one call, then 429; the admin's bucket is untouched by it.
    strict_calls = [await broker.mgmt("GET", "clients", token=strict) for _ in range(2)]
    assert [r.status_code for r in strict_calls] == [200, 429]
    assert strict_calls[0].headers["x-ratelimit-limit"] == "1"
    # An invalid token is counted by address, not by whatever client it claims.
    assert (await broker.mgmt("GET", "clients", token="garbage")).status_code == 401


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
        make_broker: MakeBroker) -> None:
    untrusted = await make_broker(rate_limits=limits(authorize=2))
    for _attempt in range(2):
        spoofed = [await untrusted.http.get("/authorize", headers={
            "X-Forwarded-For": f"203.0.113.{n}"}) for n in range(3)]
        if same_window(spoofed):
            break
    assert spoofed[-1].status_code == 429

    # Behind a trusted proxy (the test client's peer is 127.0.0.1), the right-most
    # untrusted hop is the client: each one has its own bucket.
    proxied = await make_broker(rate_limits=limits(authorize=2), trusted_proxies="127.0.0.1/32")
    for _attempt in range(2):
        calls = [await proxied.http.get("/authorize", headers={
            "X-Forwarded-For": f"198.51.100.7, 203.0.113.{n}"}) for n in range(3)]
        same = [await proxied.http.get("/authorize", headers={
            "X-Forwarded-For": "203.0.113.200"}) for _ in range(3)]
        if same_window(calls + same):
            break
    assert all(r.status_code != 429 for r in calls)
    assert [r.status_code == 429 for r in same] == [False, False, True]


async def test_processes_share_one_budget_in_redis(make_broker: MakeBroker,
                                                   redis_db: str) -> None:
    shared = {"rate_limits": limits(management=3), "redis_url": SecretStr(redis_db)}
    first = await make_broker(**shared)
    first.runtime.settings.rate_limits.enabled = False
    token = await first.admin_token()
    first.runtime.settings.rate_limits.enabled = True
    second = await make_broker(**shared)
    headers = {"Authorization": f"Bearer {token}"}

    async def call(broker: Broker) -> httpx.Response:
        return await broker.http.get("/api/v2/clients", headers=headers)

    for _attempt in range(2):
        await redis.Redis.from_url(redis_db).flushdb()
        burst = [await call(first), await call(second), await call(first), await call(second)]
        if same_window(burst):
            break
    assert [r.status_code for r in burst] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in burst] == ["2", "1", "0", "0"]
    keys = await redis.Redis.from_url(redis_db).keys("idbroker:rl:*")
    assert len(keys) == 1 and 0 < await redis.Redis.from_url(redis_db).ttl(keys[0]) <= WINDOW + 1


async def test_user_reads_answered_by_the_fast_lane_share_the_management_budget(
        make_broker: MakeBroker) -> None:
    """GET /api/v2/users/{id} is answered by the fast lane (http/fast_lane.py), other
    Management API calls by the full stack: one budget, one 429 shape."""
    broker = await make_broker(rate_limits=limits(management=3))
    broker.runtime.settings.rate_limits.enabled = False
    token = await broker.admin_token()
    broker.runtime.settings.rate_limits.enabled = True
    for _attempt in range(2):
        burst = [await broker.mgmt("GET", "users/auth0%7Cnobody", token=token),
                 await broker.mgmt("GET", "clients", token=token),
                 await broker.mgmt("GET", "users/auth0%7Cnobody", token=token),
                 await broker.mgmt("GET", "users/auth0%7Cnobody", token=token),
                 await broker.mgmt("GET", "clients", token=token)]
        if same_window(burst):
            break
    assert [r.status_code for r in burst] == [404, 200, 404, 429, 429]
    lane, full = burst[3], burst[4]
    assert lane.json() == full.json() == {
        "statusCode": 429, "error": "Too Many Requests",
        "message": "Global limit has been reached", "errorCode": "too_many_requests"}
    assert sorted(lane.headers.keys()) == sorted(full.headers.keys())
    assert [int(r.headers["x-ratelimit-remaining"]) for r in burst[:3]] == [2, 1, 0]
