"""`idbroker serve --workers N` forks its workers from the process that already imported the
app (cli/forking.py), started on a fresh store (init and serve in one command) and again on
the same store, where `initialise` leaves aiosqlite's connection thread ending at the fork."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists() or os.name != "posix",
                                reason="reads the workers' command lines from /proc")


@pytest.fixture
def env(tmp_path: Path, settings: object) -> dict[str, str]:
    values = {"IDBROKER_DATA_DIR": str(tmp_path / "data"), "IDBROKER_LOG_LEVEL": "INFO"}
    if os.environ.get("IDBROKER_TEST_DATABASE_URL"):
        values["IDBROKER_DATABASE_URL"] = os.environ["IDBROKER_TEST_DATABASE_URL"]
    return values


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_serve_forks_its_workers_on_a_new_and_on_an_existing_store(env: dict[str, str]) -> None:
    for _ in range(2):
        _serve_once_and_check_the_workers(env)


def _serve_once_and_check_the_workers(env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "idbroker", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, **env, "IDBROKER_ISSUER": f"http://127.0.0.1:{port}/"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration"
                                 ).status_code == 200
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                time.sleep(0.1)
        workers = _children(process.pid)
        assert len(workers) == 2
        # A forked worker runs the parent's command; a spawned one multiprocessing's.
        assert all(_cmdline(pid) == _cmdline(process.pid) for pid in workers)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert "spawned, not forked" not in output
