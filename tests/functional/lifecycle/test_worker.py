"""Background refresh (issue 4 item 3): the `refresh_ahead` job renews tokens of connections
that opted in before they expire, through the same single-flight path (several workers at
once still refresh an identity once); the worker runs every job, isolated from the others'
failures; `idbroker worker` runs until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from idbroker.lifecycle.jobs import Job
from idbroker.lifecycle.refresh_ahead import refresh_ahead
from idbroker.lifecycle.worker import load_jobs, run_job_once, run_worker
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault import schema as t
from tests.fakes.routing_transport import RoutingTransport
from tests.functional.lifecycle.test_refresh import ALICE, expire, read_identity, rows, signed_in
from tests.support import Broker

BOB = "oidc|plain-oidc|bob"


async def test_refresh_ahead_renews_only_opted_in_connections(broker: Broker) -> None:
    world = await signed_in(broker, background_refresh=True)
    app = world.app
    await broker.oidc_connection([app["client_id"]], name="plain-oidc")
    broker.upstream.set_login("bob")
    await broker.login(app, connection="plain-oidc")
    bob = await broker.runtime.store.get_user(BOB)
    assert bob is not None
    await expire(broker, world.identity_id, seconds_ago=-120)  # inside the 300 s window
    await expire(broker, bob.identities[0].id, seconds_ago=-120)
    calls = broker.upstream.calls["token"]

    jobs = {job.name: job for job in load_jobs()}
    assert {"refresh_ahead", "revocations", "events"} <= jobs.keys()
    assert await run_job_once(broker.runtime, jobs["refresh_ahead"]) == 1  # only Alice's
    assert broker.upstream.calls["token"] == calls + 1
    alice = await read_identity(broker, world.reader)
    assert alice["access_token"] == broker.upstream.issued[-1]["access_token"]
    assert alice["expires_in"] > 3500
    audit = [r for r in await rows(broker, t.audit_log) if r["type"] == "idp_token_refresh"]
    assert [r["details"]["via"] for r in audit] == ["refresh_ahead"]
    assert audit[0]["user_id"] == ALICE and audit[0]["client_id"] is None

    # Nothing left to do: the next run finds no identity due.
    assert await refresh_ahead(broker.runtime) == 0


async def test_identity_without_refresh_token_is_held_off(broker: Broker) -> None:
    broker.upstream.hooks.omit_refresh_token = True
    world = await signed_in(broker, background_refresh=True)
    await expire(broker, world.identity_id)
    calls = broker.upstream.calls["token"]
    assert await refresh_ahead(broker.runtime) == 1
    assert await refresh_ahead(broker.runtime) == 0  # not picked again every interval
    assert broker.upstream.calls["token"] == calls


async def test_two_workers_at_once_refresh_an_identity_once(broker: Broker,
                                                            settings: Settings) -> None:
    world = await signed_in(broker, background_refresh=True)
    await expire(broker, world.identity_id, seconds_ago=-100)
    broker.upstream.hooks.token_delay = 0.2
    routes = RoutingTransport({broker.upstream.host: broker.upstream.app})
    http = httpx.AsyncClient(transport=routes)
    other = await Runtime.start(settings, http=http, apply_migrations=False)
    try:
        await asyncio.gather(refresh_ahead(broker.runtime), refresh_ahead(other),
                             refresh_ahead(broker.runtime))
    finally:
        await other.close()
        await http.aclose()
    assert world.refreshes(broker) == 1
    identity = await read_identity(broker, world.reader)
    assert identity["refresh_token"] == broker.upstream.issued[-1]["refresh_token"]


async def test_a_failing_job_does_not_stop_the_others(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    runs = {"broken": 0, "fine": 0}
    canary = "canary-" + os.urandom(8).hex()  # e.g. a library quoting a value it was given

    async def broken(rt: Runtime) -> int:
        runs["broken"] += 1
        raise RuntimeError(canary)

    async def fine(rt: Runtime) -> int:
        runs["fine"] += 1
        if runs["fine"] >= 3 and runs["broken"] >= 3:
            stop.set()
        return 1

    await asyncio.wait_for(run_worker(broker.runtime, stop, jobs=[
        Job("broken", 0.001, broken), Job("fine", 0.001, fine)]), timeout=30)
    assert runs["broken"] >= 3 and runs["fine"] >= 3
    failures = [r.getMessage() for r in caplog.records if "job broken failed" in r.getMessage()]
    assert failures and all("RuntimeError" in m for m in failures)
    assert not any(canary in r.getMessage() for r in caplog.records)


async def test_background_refresh_option_is_validated(broker: Broker) -> None:
    app = await broker.web_app()
    bad = await broker.mgmt("POST", "connections", json={
        "name": "bad-option", "strategy": "oidc", "enabled_clients": [app["client_id"]],
        "options": {"discovery_url": broker.upstream.discovery_url, "client_id": "x",
                    "background_refresh": "yes"}})
    assert bad.status_code == 400 and "background_refresh" in bad.json()["message"]
    good = await broker.oidc_connection([app["client_id"]], background_refresh=True)
    assert good["options"]["background_refresh"] is True


def test_idbroker_worker_runs_until_sigterm(tmp_path: Path, settings: Settings) -> None:
    assert settings.vault_key is not None
    env = {**os.environ, "IDBROKER_DATA_DIR": str(tmp_path / "worker"),
           "IDBROKER_VAULT_KEY": settings.vault_key.get_secret_value(),
           "IDBROKER_LOG_LEVEL": "INFO"}
    env.pop("IDBROKER_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "idbroker", "worker"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        seen = ""
        while "worker started" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            seen += proc.stdout.readline()
        assert "refresh_ahead" in seen
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, seen + output
    assert "worker stopped" in seen + output


def test_serve_with_worker_runs_one_worker_beside_several_servers(
        tmp_path: Path, settings: Settings) -> None:
    assert settings.vault_key is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "IDBROKER_DATA_DIR": str(tmp_path / "serve"),
           "IDBROKER_VAULT_KEY": settings.vault_key.get_secret_value(),
           "IDBROKER_ISSUER": f"http://127.0.0.1:{port}/", "IDBROKER_LOG_LEVEL": "INFO"}
    env.pop("IDBROKER_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "idbroker", "serve", "--port", str(port), "--workers", "2",
         "--with-worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while seen.count("Application startup complete") < 2 or "worker started" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            seen += proc.stdout.readline()
        assert httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json").status_code == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
        seen += output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen.count("worker started") == 1 and "worker stopped" in seen, seen
