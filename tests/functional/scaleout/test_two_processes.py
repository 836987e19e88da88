"""Scale-out: two `idbroker serve` processes (real uvicorn subprocesses, two ports) sharing one
PostgreSQL database and one Redis, driven by an independent HTTP client, as behind a load
balancer (docs/deployment.md).

Needs PostgreSQL (IDBROKER_TEST_DATABASE_URL, emptied here) and Redis
(IDBROKER_TEST_REDIS_URL, default redis://127.0.0.1:6379/0; only this test's keys are
touched); skipped when either cannot be reached.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from idbroker.encoding import b64url_encode
from idbroker.vault import schema as t
from idbroker.vault.crypto import Vault
from idbroker.vault.db import create_engine
from idbroker.vault.store import Store, identity_aad
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.interop.servers import ServerThread, bound_socket, free_port

PG_URL = os.environ.get("IDBROKER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("IDBROKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IDBROKER = Path(sys.executable).parent / "idbroker"
APP_CALLBACK = f"http://127.0.0.1:{free_port()}/callback"
# The management group's budget per client in both processes; a day-long window, so the
# budget cannot reset in the middle of the test.
BUDGET = 30
START_TIMEOUT_S = 60.0


def _redis_reachable() -> str | None:
    import redis
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable
        return f"Redis at {REDIS_URL} is unreachable ({type(exc).__name__})"
    return None


async def _reset(url: str) -> str | None:
    try:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        await engine.dispose()
    except (OSError, sa.exc.DBAPIError) as exc:
        return f"PostgreSQL is unreachable ({type(exc).__name__})"
    return None


@dataclass
class Process:
    name: str
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    a: Process
    b: Process
    issuer: str
    upstream: FakeOIDCUpstream
    vault_key: str
    admin: tuple[str, str]
    startup_outputs: list[str]


def _serve(name: str, port: int, env: dict[str, str], tmp: Path) -> Process:
    log = tmp / f"{name}.log"
    proc = subprocess.Popen(
        [str(IDBROKER), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env={**os.environ, **env, "IDBROKER_DATA_DIR": str(tmp / f"data-{name}")},
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    return Process(name, f"http://127.0.0.1:{port}", proc, log)


def _wait_ready(process: Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{process.output()}")
        try:
            if httpx.get(f"{process.base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{process.name} not ready in {START_TIMEOUT_S}s:\n{process.output()}")


def _stop(process: Process) -> None:
    if process.proc.poll() is None:
        os.killpg(process.proc.pid, signal.SIGTERM)
        try:
            process.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not PG_URL:
        pytest.skip("needs PostgreSQL: IDBROKER_TEST_DATABASE_URL is not set")
    unreachable = asyncio.run(_reset(PG_URL)) or _redis_reachable()
    if unreachable:
        pytest.skip(unreachable)
    tmp = tmp_path_factory.mktemp("scaleout")
    with socket.socket() as probe_a, socket.socket() as probe_b:
        probe_a.bind(("127.0.0.1", 0))
        probe_b.bind(("127.0.0.1", 0))
        port_a, port_b = probe_a.getsockname()[1], probe_b.getsockname()[1]
    # One public issuer for both, as behind a load balancer: here, process A's address.
    issuer = f"http://127.0.0.1:{port_a}/"
    upstream_sock = bound_socket()
    upstream = FakeOIDCUpstream(issuer=f"http://127.0.0.1:{upstream_sock.getsockname()[1]}",
                                redirect_uris=[f"{issuer}login/callback"])
    upstream_server = ServerThread(upstream.app, upstream_sock, "upstream")
    upstream_server.start()
    vault_key = b64url_encode(secrets.token_bytes(32))
    env = {"IDBROKER_ISSUER": issuer, "IDBROKER_DATABASE_URL": PG_URL,
           "IDBROKER_VAULT_KEY": vault_key, "IDBROKER_REDIS_URL": REDIS_URL,
           "IDBROKER_LOG_LEVEL": "WARNING", "IDBROKER_UPSTREAM_TIMEOUT": "5",
           "IDBROKER_RATE_LIMITS": json.dumps(
               {"groups": {"management": {"limit": BUDGET, "window": 86_400}}})}
    # Both at once against the empty database: migrations, the first signing key and the
    # bootstrap client must each be created exactly once.
    a = _serve("a", port_a, env, tmp)
    b = _serve("b", port_b, env, tmp)
    try:
        _wait_ready(a)
        _wait_ready(b)
        outputs = [a.output(), b.output()]
        found = [re.search(r"client_id:\s+(\S+)\s+client_secret:\s+(\S+)", o) for o in outputs]
        creds = [m.groups() for m in found if m]
        assert len(creds) == 1, outputs  # exactly one process created the bootstrap client
        yield Cluster(a, b, issuer, upstream, vault_key, (creds[0][0], creds[0][1]), outputs)
    finally:
        _stop(a)
        _stop(b)
        upstream_server.stop()


def _token(base: str, client: tuple[str, str], issuer: str) -> str:
    response = httpx.post(f"{base}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1],
        "audience": f"{issuer}api/v2/"})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _m2m(base: str, admin_token: str, issuer: str, scopes: list[str]) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    made = httpx.post(f"{base}/api/v2/clients", headers=headers, json={
        "name": f"backend-{secrets.token_hex(3)}", "app_type": "non_interactive"})
    assert made.status_code == 201, made.text
    grant = httpx.post(f"{base}/api/v2/client-grants", headers=headers, json={
        "client_id": made.json()["client_id"], "audience": f"{issuer}api/v2/", "scope": scopes})
    assert grant.status_code == 201, grant.text
    return made.json()["client_id"], made.json()["client_secret"]


def _login(base: str, app: dict[str, Any]) -> str:
    """authorize → upstream → callback on one process; returns the authorization code."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    with httpx.Client(timeout=10) as browser:
        start = browser.get(f"{base}/authorize?" + urlencode({
            "response_type": "code", "client_id": app["client_id"], "redirect_uri": APP_CALLBACK,
            "scope": "openid profile email offline_access", "state": state,
            "connection": "acme-oidc", "code_challenge": challenge,
            "code_challenge_method": "S256"}))
        assert start.status_code == 302, start.text
        upstream = browser.get(start.headers["location"])
        assert upstream.status_code in (302, 303), upstream.text
        back = browser.get(upstream.headers["location"])
        assert back.status_code == 302, back.text
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["state"] == [state], back.headers["location"]
    return f"{query['code'][0]} {verifier}"


async def _expire_tokens(vault_key: str, user_id: str) -> str:
    """The identity's upstream access token, now marked expired (as if an hour had passed)."""
    from idbroker.encoding import b64url_decode
    engine = create_engine(PG_URL or "")
    try:
        store = Store(engine, Vault([b64url_decode(vault_key)]))
        user = await store.get_user(user_id)
        assert user is not None and len(user.identities) == 1
        identity = user.identities[0]
        tokens = store.open_tokens(identity)
        assert tokens is not None and tokens.access_token and tokens.refresh_token
        tokens.expires_at = int(time.time()) - 60
        async with engine.begin() as conn:
            await conn.execute(t.identities.update().where(t.identities.c.id == identity.id)
                               .values(tokens_sealed=store.vault.seal(
                                   tokens.to_json(), identity_aad(identity.id)),
                                   token_expires_at=tokens.expires_at * 1000))
        return tokens.access_token
    finally:
        await engine.dispose()


def test_both_processes_started_at_once_created_the_schema_and_keys_once(
        cluster: Cluster) -> None:
    # Each process publishes the same signing keys (one current key, created once).
    jwks = [httpx.get(f"{p.base}/.well-known/jwks.json").json() for p in (cluster.a, cluster.b)]
    assert jwks[0] == jwks[1] and len(jwks[0]["keys"]) == 1
    created = [o for o in cluster.startup_outputs if "database schema" in o]
    assert len(created) == 1, cluster.startup_outputs
    assert httpx.get(f"{cluster.b.base}/healthz").json() == {"status": "ok"}


def test_login_on_one_process_tokens_read_and_refreshed_once_through_the_other(
        cluster: Cluster) -> None:
    a, b, issuer = cluster.a.base, cluster.b.base, cluster.issuer
    admin = _token(a, cluster.admin, issuer)
    headers = {"Authorization": f"Bearer {admin}"}
    app = httpx.post(f"{b}/api/v2/clients", headers=headers, json={
        "name": "web", "app_type": "regular_web", "callbacks": [APP_CALLBACK]}).json()
    up = cluster.upstream
    made = httpx.post(f"{a}/api/v2/connections", headers=headers, json={
        "name": "acme-oidc", "strategy": "oidc", "enabled_clients": [app["client_id"]],
        "options": {"discovery_url": up.discovery_url, "client_id": up.client_id,
                    "client_secret": up.client_secret,
                    "scope": "openid profile email offline_access"}})
    assert made.status_code == 201, made.text

    # The login completes on A; its code is redeemed on B.
    code, verifier = _login(a, app).split(" ")
    tokens = httpx.post(f"{b}/oauth/token", data={
        "grant_type": "authorization_code", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "code": code, "redirect_uri": APP_CALLBACK,
        "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    userinfo = httpx.get(f"{a}/userinfo",
                         headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    user_id = userinfo.json()["sub"]

    # The IdP tokens stored by A are read through B by a backend.
    reader = _token(a, _m2m(b, admin, issuer, ["read:users", "read:user_idp_tokens"]), issuer)
    path = f"/api/v2/users/{quote(user_id, safe='')}"
    read = httpx.get(f"{b}{path}", headers={"Authorization": f"Bearer {reader}"})
    assert read.status_code == 200, read.text
    stored = read.json()["identities"][0]["access_token"]
    assert stored in {body.get("access_token") for body in up.idp.issued}

    # Expired: concurrent reads on both processes make exactly one upstream refresh, and all
    # of them get its token.
    old = asyncio.run(_expire_tokens(cluster.vault_key, user_id))
    assert old == stored
    refreshes = 0
    original = up.idp.refresh

    def counted(*args: Any) -> Any:
        nonlocal refreshes
        refreshes += 1
        return original(*args)

    up.idp.refresh = counted  # type: ignore[method-assign]
    up.hooks.token_delay = 0.2  # widen the window in which a second refresh could start

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(*(
                http.get(f"{base}{path}", headers={"Authorization": f"Bearer {reader}"})
                for base in (a, b) * 6))

    try:
        answers = asyncio.run(burst())
    finally:
        up.idp.refresh = original  # type: ignore[method-assign]
        up.hooks.token_delay = 0
    assert [r.status_code for r in answers] == [200] * 12, [r.text for r in answers]
    served = {r.json()["identities"][0].get("access_token") for r in answers}
    assert refreshes == 1
    assert len(served) == 1 and old not in served and None not in served


def test_one_rate_limit_budget_is_shared_by_both_processes(cluster: Cluster) -> None:
    a, b, issuer = cluster.a.base, cluster.b.base, cluster.issuer
    admin = _token(b, cluster.admin, issuer)
    client = _m2m(a, admin, issuer, ["read:clients"])
    token = _token(b, client, issuer)
    statuses, remaining = [], []
    for n in range(BUDGET + 6):
        response = httpx.get(f"{(a, b)[n % 2]}/api/v2/clients",
                             headers={"Authorization": f"Bearer {token}"})
        statuses.append(response.status_code)
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    # Requests alternate between A and B, yet they drain one budget of BUDGET in order.
    assert statuses == [200] * BUDGET + [429] * 6
    assert remaining[:BUDGET] == list(range(BUDGET - 1, -1, -1))
