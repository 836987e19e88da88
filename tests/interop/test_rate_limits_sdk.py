"""How both SDKs handle our 429s, against a broker whose Management API allows each client 3
requests per 2-second window:

- v6 retries a 429 (max_retries=2 by default) after waiting what ``Retry-After`` /
  ``x-ratelimit-reset`` say, so the caller never sees it; without retries it raises
  ``TooManyRequestsError`` carrying our body and headers;
- v4 raises ``RateLimitError`` whose ``reset_at`` is ``int(x-ratelimit-reset)`` (a non-integer
  header would make v4 itself crash), and with retries (429 only, fixed backoff) gets through
  once the window has passed.

Seven requests back to back cannot fit in two windows of three, so a 429 is certain however
the requests fall across a window boundary."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from auth0.management.errors import TooManyRequestsError

from idbroker.settings import RateLimit, RateLimits
from tests.interop.conftest import Stack
from tests.interop.sdk_tenant import admin_token, v6
from tests.interop.v4_runner import run_v4

LIMIT, WINDOW = 3, 2
BURST = 2 * LIMIT + 1


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, Any]:
    return {"rate_limits": RateLimits(groups={"management": RateLimit(limit=LIMIT,
                                                                      window=WINDOW)})}


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    return admin_token(stack)  # /oauth/token is another group: not limited here


@dataclass
class Exchange:
    sent_at: float
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def exchanges() -> Iterator[tuple[httpx.Client, list[Exchange]]]:
    seen: list[Exchange] = []
    sent: list[float] = []

    def on_request(request: httpx.Request) -> None:
        sent.append(time.time())

    def on_response(response: httpx.Response) -> None:
        response.read()
        seen.append(Exchange(sent[len(seen)], response.status_code, dict(response.headers),
                             response.content))

    with httpx.Client(timeout=10, event_hooks={"request": [on_request],
                                               "response": [on_response]}) as http:
        yield http, seen


def assert_auth0_429(status: int, headers: dict[str, str], body: Any) -> None:
    assert status == 429
    assert headers["x-ratelimit-reset"].isdigit()  # an integer, as v4 needs
    assert headers["x-ratelimit-limit"] == str(LIMIT)
    assert headers["x-ratelimit-remaining"] == "0"
    assert headers["retry-after"].isdigit() and int(headers["retry-after"]) <= WINDOW
    assert body["statusCode"] == 429 and body["error"] == "Too Many Requests"
    assert body["message"]


def test_v6_waits_as_told_and_retries(stack: Stack, token: str,
                                      exchanges: tuple[httpx.Client, list[Exchange]]) -> None:
    http, seen = exchanges
    mgmt = v6(stack, token, max_retries=2, httpx_client=http)
    for _ in range(BURST):
        mgmt.clients.list(per_page=1)  # every call succeeds, from the caller's point of view

    limited = [n for n, e in enumerate(seen) if e.status == 429]
    assert limited, [e.status for e in seen]
    for n in limited:
        assert_auth0_429(seen[n].status, seen[n].headers, json.loads(seen[n].body))
        retry = seen[n + 1]
        # v6 slept for Retry-After before the retry, so it lands in the next window. (A lower
        # bound only: a slow machine makes it later, never earlier.)
        assert retry.sent_at >= seen[n].sent_at + int(seen[n].headers["retry-after"]) - 0.05
    assert seen[-1].status == 200 and len(seen) == BURST + len(limited)


def test_v6_without_retries_raises_too_many_requests(stack: Stack, token: str) -> None:
    mgmt = v6(stack, token, max_retries=0)
    with pytest.raises(TooManyRequestsError) as err:
        for _ in range(BURST):
            mgmt.clients.list(per_page=1)
    assert isinstance(err.value.body, dict)
    assert_auth0_429(err.value.status_code, dict(err.value.headers or {}), err.value.body)


def test_v4_rate_limit_error_and_retries(stack: Stack, token: str) -> None:
    out = run_v4({"scenario": "throttled", "domain": stack.domain, "token": token,
                  "spend": BURST})
    limited = [a for a in out["attempts"] if "error" in a]
    assert limited, out["attempts"]
    for attempt in limited:
        assert attempt["error"] == "RateLimitError" and attempt["status_code"] == 429
        assert isinstance(attempt["reset_at"], int) and attempt["reset_at"] > 0
        assert attempt["message"]
    # With retries, every call of a second burst gets through, some after waiting.
    assert all("error" not in a for a in out["after_retries"]), out["after_retries"]
    assert out["retries_used"] >= 1
