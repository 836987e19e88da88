"""The scenarios wrk cannot drive: complete federated logins, and the refresh storm."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import statistics
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from bench.seed import APP_CALLBACK, CONNECTION


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_login(http: httpx.AsyncClient, broker: str, app: tuple[str, str]) -> dict[str, Any]:
    """authorize → upstream (auto-approving) → callback → code exchange; return the token body."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    state = secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": app[0], "redirect_uri": APP_CALLBACK,
              "scope": "openid profile email offline_access", "state": state,
              "nonce": secrets.token_urlsafe(16), "connection": CONNECTION,
              # A new sign-in every time: without it the broker's session cookie (SSO) would
              # answer the repeat logins of a browser without going to the upstream.
              "prompt": "login",
              "code_challenge": challenge.decode(), "code_challenge_method": "S256"}
    start = await http.get(f"{broker}/authorize?{urlencode(params)}")
    assert start.status_code == 302, start.text
    upstream = await http.get(start.headers["location"])
    assert upstream.status_code in (302, 303), upstream.text
    back = await http.get(upstream.headers["location"])
    assert back.status_code == 302, back.text
    location = back.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(APP_CALLBACK) and query.get("state") == [state], location
    assert "code" in query, location
    token = await http.post(f"{broker}/oauth/token", data={
        "grant_type": "authorization_code", "client_id": app[0], "client_secret": app[1],
        "code": query["code"][0], "redirect_uri": APP_CALLBACK, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    return token.json()


async def logins(broker: str, app: tuple[str, str], *, seconds: float,
                 concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    first_failure: list[str] = []
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal failures
        # One client per simulated browser: it keeps that browser's binding cookies.
        async with httpx.AsyncClient(timeout=30) as http:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    await one_login(http, broker, app)
                except (AssertionError, httpx.HTTPError) as exc:
                    failures += 1
                    first_failure[:] = first_failure or [repr(exc)[:500]]
                    continue
                latencies.append(time.perf_counter() - began)

    # The upstream auto-approves one account: sign it in once first, so the timed logins are
    # repeat logins and not a race of first logins of the same account.
    async with httpx.AsyncClient(timeout=30) as http:
        await one_login(http, broker, app)
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {"rps": len(latencies) / elapsed, "p50_ms": _pct(latencies, 0.5) * 1000,
            "p99_ms": _pct(latencies, 0.99) * 1000, "requests": len(latencies),
            "errors": failures, "first_failure": first_failure[0] if first_failure else None,
            "connections": concurrency}


async def storm(broker: str, upstream: str, user_path: str, token: str, old_access_token: str,
                *, reads: int) -> dict[str, Any]:
    """``reads`` concurrent GETs of one user whose upstream token has expired."""
    async with httpx.AsyncClient(timeout=60) as http:
        before = (await http.get(f"{upstream}/_bench/stats")).json()["refreshes"]
    limits = httpx.Limits(max_connections=reads, max_keepalive_connections=reads)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        gate = asyncio.Event()

        async def read() -> tuple[float, int, str | None]:
            await gate.wait()
            began = time.perf_counter()
            response = await http.get(f"{broker}{user_path}",
                                      headers={"Authorization": f"Bearer {token}"})
            took = time.perf_counter() - began
            if response.status_code != 200:
                return took, response.status_code, None
            return took, 200, response.json()["identities"][0].get("access_token")

        tasks = [asyncio.create_task(read()) for _ in range(reads)]
        await asyncio.sleep(0.2)
        gate.set()
        results = await asyncio.gather(*tasks)
    async with httpx.AsyncClient(timeout=60) as http:
        after = (await http.get(f"{upstream}/_bench/stats")).json()["refreshes"]
    served = {tok for _, status, tok in results if status == 200}
    latencies = [took for took, _, _ in results]
    return {"reads": reads, "upstream_refreshes": after - before,
            "non_200": sum(1 for _, status, _ in results if status != 200),
            "distinct_tokens": len(served), "old_token_served": old_access_token in served,
            "p50_ms": _pct(latencies, 0.5) * 1000, "p99_ms": _pct(latencies, 0.99) * 1000,
            "max_ms": max(latencies) * 1000, "mean_ms": statistics.fmean(latencies) * 1000}
