"""Single-flight across OS processes (security_tests.md E5): two `uvicorn` servers on
loopback share one database (the SQLite file, or PostgreSQL when the suite runs on it) and one
upstream with rotating refresh tokens. Fifty concurrent reads of an expired token, split over
both servers, cause exactly one upstream refresh; all fifty get the same new access token, and
the stored refresh token is the rotated one. A second refresh with the burnt refresh token
would have answered invalid_grant, so a race could not hide."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from idbroker.settings import Settings
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.functional.lifecycle.test_refresh import ALICE, expire, signed_in
from tests.support import ISSUER, Broker

READY_WITHIN_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def upstream() -> Iterator[FakeOIDCUpstream]:
    """The fake upstream served for real on loopback (the broker processes call it over TCP);
    the test's own runtime reaches the same app in-process for the set-up."""
    port = free_port()
    fake = FakeOIDCUpstream(issuer=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_WITHIN_S
    while not server.started:
        assert time.monotonic() < deadline, "the fake upstream did not start"
        time.sleep(0.02)
    yield fake
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def servers(broker: Broker, settings: Settings,
                  tmp_path: Path) -> AsyncIterator[list[str]]:
    """Two idbroker processes on the test's database, as `idbroker serve` would run them."""
    assert settings.vault_key is not None
    env = {**os.environ, "IDBROKER_ISSUER": ISSUER,
           "IDBROKER_DATA_DIR": str(Path(settings.data_dir).resolve()),
           "IDBROKER_VAULT_KEY": settings.vault_key.get_secret_value(),
           "IDBROKER_UPSTREAM_TIMEOUT": "5", "IDBROKER_ALLOW_INSECURE_UPSTREAMS": "true"}
    if settings.database_url:
        env["IDBROKER_DATABASE_URL"] = settings.database_url
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"server-{port}.log" for port in ports]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "idbroker.http.app:create_app_from_env", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        for port, log in zip(ports, logs, strict=True)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with httpx.AsyncClient() as http:
            for url, proc, log in zip(urls, procs, logs, strict=True):
                deadline = time.monotonic() + READY_WITHIN_S
                while True:
                    if proc.poll() is not None:
                        pytest.fail(log.read_text()[-2000:])
                    try:
                        if (await http.get(f"{url}/.well-known/jwks.json")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "idbroker did not start"
                    await asyncio.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_two_processes_fifty_reads_one_refresh(broker: Broker, servers: list[str]) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    broker.upstream.hooks.token_delay = 0.3  # readers of both processes pile up meanwhile

    path = "/api/v2/users/" + ALICE.replace("|", "%7C")
    headers = {"Authorization": f"Bearer {world.reader}"}
    async with httpx.AsyncClient(timeout=30) as http:
        responses = await asyncio.gather(*(
            http.get(servers[n % 2] + path, headers=headers) for n in range(50)))
    assert [r.status_code for r in responses] == [200] * 50, responses[0].text
    identities = [r.json()["identities"][0] for r in responses]

    issued = broker.upstream.issued[-1]
    assert world.refreshes(broker) == 1
    assert {i["access_token"] for i in identities} == {issued["access_token"]}
    assert all("token_status" not in i for i in identities)
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None
    stored = broker.runtime.store.open_tokens(user.identities[0])
    assert stored is not None and stored.refresh_token == issued["refresh_token"]
    # The token works upstream: the provider's own API accepts it.
    async with httpx.AsyncClient() as http:
        me = await http.get(f"{broker.upstream.issuer}/api/me",
                            headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert me.status_code == 200 and me.json()["sub"] == "alice"
