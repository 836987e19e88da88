"""The scenarios wrk cannot drive: complete federated logins, and the refresh storm."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import httpx
import yarl

from bench.seed import APP_CALLBACK, CONNECTION


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def authorize_params(client_id: str) -> tuple[str, str, dict[str, str]]:
    """A timed login's /authorize query: (PKCE verifier, state, parameters)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    state = secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": APP_CALLBACK,
              "scope": "openid profile email offline_access", "state": state,
              "nonce": secrets.token_urlsafe(16), "connection": CONNECTION,
              # A new sign-in every time: without it the broker's session cookie (SSO) would
              # answer the repeat logins of a browser without going to the upstream.
              "prompt": "login",
              "code_challenge": challenge.decode(), "code_challenge_method": "S256"}
    return verifier, state, params


async def one_login(http: httpx.AsyncClient, broker: str, app: tuple[str, str]) -> dict[str, Any]:
    """authorize → upstream (auto-approving) → callback → code exchange; return the token body."""
    verifier, state, params = authorize_params(app[0])
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


async def one_login_lean(http: aiohttp.ClientSession, broker: str,
                         app: tuple[str, str]) -> None:
    """``one_login`` on aiohttp: the same four steps and checks, at a fraction of httpx's CPU
    per request (the load client shares the two cores with the servers it measures). The
    session's cookie jar plays the browser: the binding cookie (Path=/login/callback) and the
    session cookie (Path=/) go where and when a browser would send them, and expire or are
    cleared as the server says."""
    verifier, state, params = authorize_params(app[0])
    async with http.get(f"{broker}/authorize?{urlencode(params)}",
                        allow_redirects=False) as start:
        assert start.status == 302, await start.text()
        upstream_url = start.headers["location"]
    # encoded=True: the URLs are sent exactly as the servers wrote them (no re-quoting).
    async with http.get(yarl.URL(upstream_url, encoded=True), allow_redirects=False) as upstream:
        assert upstream.status in (302, 303), await upstream.text()
        callback_url = upstream.headers["location"]
    async with http.get(yarl.URL(callback_url, encoded=True), allow_redirects=False) as back:
        assert back.status == 302, await back.text()
        location = back.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(APP_CALLBACK) and query.get("state") == [state], location
    assert "code" in query, location
    async with http.post(f"{broker}/oauth/token", data={
            "grant_type": "authorization_code", "client_id": app[0], "client_secret": app[1],
            "code": query["code"][0], "redirect_uri": APP_CALLBACK,
            "code_verifier": verifier}) as token:
        assert token.status == 200, await token.text()
        body = await token.json()
    assert body.get("id_token") and body.get("access_token"), body


async def logins(broker: str, app: tuple[str, str], *, seconds: float,
                 concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    first_failure: list[str] = []
    deadline = time.perf_counter() + seconds

    def browser() -> aiohttp.ClientSession:
        # unsafe=True: the jar keeps cookies of an IP-address host (127.0.0.1), as browsers do.
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=30))

    async def loop() -> None:
        nonlocal failures
        # One session per simulated browser: it keeps that browser's cookies.
        async with browser() as http:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    await one_login_lean(http, broker, app)
                except (AssertionError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    failures += 1
                    first_failure[:] = first_failure or [repr(exc)[:500]]
                    continue
                latencies.append(time.perf_counter() - began)

    # The upstream auto-approves one account: sign it in once first, so the timed logins are
    # repeat logins and not a race of first logins of the same account.
    async with browser() as http:
        await one_login_lean(http, broker, app)
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {"rps": len(latencies) / elapsed, "p50_ms": _pct(latencies, 0.5) * 1000,
            "p99_ms": _pct(latencies, 0.99) * 1000, "requests": len(latencies),
            "errors": failures, "first_failure": first_failure[0] if first_failure else None,
            "connections": concurrency}


async def storm(broker: str, upstream: str, user_path: str, token: str, old_access_token: str,
                *, reads: int, client: str = "lean",
                on_fire: Callable[[], None] | None = None) -> dict[str, Any]:
    """``reads`` concurrent GETs of one user whose upstream token has expired.

    ``client="lean"`` (the default): plain asyncio streams, every keep-alive connection opened
    first (untimed), then all requests written at once; each read is timed from its own send to
    its complete response, and the body is parsed only after the clock stops. httpx's pool is
    itself slow at 1,000 connections (it dominated the first measurements), so ``"httpx"`` is
    kept only to compare with. ``on_fire`` is called just before the requests go out."""
    async with httpx.AsyncClient(timeout=60) as http:
        before = (await http.get(f"{upstream}/_bench/stats")).json()["refreshes"]
    fired: list[float] = []

    def fire() -> None:
        fired.append(time.process_time())
        if on_fire is not None:
            on_fire()
    if client == "httpx":
        results = await _storm_httpx(broker, user_path, token, reads, fire)
    else:
        results = await _storm_lean(broker, user_path, token, reads, fire)
    client_cpu_s = time.process_time() - fired[0]  # the client shares the server's cores
    async with httpx.AsyncClient(timeout=60) as http:
        after = (await http.get(f"{upstream}/_bench/stats")).json()["refreshes"]
    served = {tok for _, status, tok in results if status == 200}
    latencies = [took for took, _, _ in results]
    return {"reads": reads, "client": client, "upstream_refreshes": after - before,
            "non_200": sum(1 for _, status, _ in results if status != 200),
            "distinct_tokens": len(served), "old_token_served": old_access_token in served,
            "p50_ms": _pct(latencies, 0.5) * 1000, "p99_ms": _pct(latencies, 0.99) * 1000,
            "min_ms": min(latencies) * 1000, "max_ms": max(latencies) * 1000,
            "mean_ms": statistics.fmean(latencies) * 1000, "client_cpu_s": client_cpu_s}


def _access_token(status: int, body: bytes) -> tuple[int, str | None]:
    if status != 200:
        return status, None
    return 200, json.loads(body)["identities"][0].get("access_token")


async def _storm_lean(broker: str, user_path: str, token: str,
                      reads: int, on_fire: Callable[[], None] | None
                      ) -> list[tuple[float, int, str | None]]:
    host, port = urlsplit(broker).hostname, urlsplit(broker).port
    request = (f"GET {user_path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n").encode()
    conns = []
    for _ in range(reads):  # one at a time: a burst of connects would overflow the backlog
        conns.append(await asyncio.open_connection(host, port, limit=1 << 20))
    await asyncio.sleep(0.5)  # the server has accepted them all
    gate = asyncio.Event()

    async def read(reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> tuple[float, int, bytes]:
        await gate.wait()
        began = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await reader.readexactly(length)
        return time.perf_counter() - began, status, body

    tasks = [asyncio.ensure_future(read(r, w)) for r, w in conns]
    await asyncio.sleep(0.05)  # every task waits at the gate
    if on_fire is not None:
        on_fire()
    gate.set()
    raw = await asyncio.gather(*tasks)
    for _, writer in conns:
        writer.close()
    return [(took, *_access_token(status, body)) for took, status, body in raw]


async def _storm_httpx(broker: str, user_path: str, token: str,
                       reads: int, on_fire: Callable[[], None] | None
                       ) -> list[tuple[float, int, str | None]]:
    limits = httpx.Limits(max_connections=reads, max_keepalive_connections=reads)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        gate = asyncio.Event()

        async def read() -> tuple[float, int, str | None]:
            await gate.wait()
            began = time.perf_counter()
            response = await http.get(f"{broker}{user_path}",
                                      headers={"Authorization": f"Bearer {token}"})
            took = time.perf_counter() - began
            return (took, *_access_token(response.status_code, response.content))

        tasks = [asyncio.create_task(read()) for _ in range(reads)]
        await asyncio.sleep(0.2)
        if on_fire is not None:
            on_fire()
        gate.set()
        return await asyncio.gather(*tasks)
