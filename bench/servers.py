"""Starting the servers a run needs on loopback, and reading their footprint from /proc."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], ready_url: str,
                 log_dir: Path) -> None:
        self.name, self.ready_url = name, ready_url
        self.log = (log_dir / f"{name}.log").open("wb")
        self.started = time.perf_counter()
        # Its own session, so stopping it stops uvicorn's worker processes too.
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.startup_s = self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> float:
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            try:
                if httpx.get(self.ready_url, timeout=1).status_code < 500:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not answer {self.ready_url} in {timeout}s")

    def workers(self) -> list[int]:
        """Pids of the process tree under this server (uvicorn's supervisor and workers)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                found.append(child)
                todo.append(child)
        return found

    def rss_mb(self) -> dict[int, float]:
        sizes = {}
        for pid in [self.proc.pid, *self.workers()]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes[pid] = int(line.split()[1]) / 1024
            except OSError:
                pass
        return sizes

    def cpu_seconds(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [self.proc.pid, *self.workers()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def uvicorn_cmd(app: str, port: int, workers: int, *, factory: bool = False) -> list[str]:
    cmd = [str(VENV_BIN / "python"), "-m", "uvicorn", app, "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--no-access-log",
           "--log-level", "warning"]
    return cmd + (["--factory"] if factory else [])


def idbroker_cmd(port: int, workers: int) -> list[str]:
    return [str(VENV_BIN / "idbroker"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]


def broker_config(data_dir: Path, broker: str, pg_url: str | None) -> tuple[dict[str, str], Any]:
    """``idbroker serve``'s environment for a run, and the same as ``Settings`` (for seeding
    the store it will serve). Rate limits are off: a run measures throughput, not the per-IP
    budget (docs/rate-limits.md)."""
    from idbroker.settings import Settings
    env = {"IDBROKER_DATA_DIR": str(data_dir), "IDBROKER_ISSUER": broker + "/",
           "IDBROKER_LOG_LEVEL": "WARNING",
           "IDBROKER_RATE_LIMITS": json.dumps({"enabled": False})}
    if pg_url is not None:
        env["IDBROKER_DATABASE_URL"] = pg_url
    return env, Settings(data_dir=data_dir, issuer=broker + "/", log_level="WARNING",
                         database_url=pg_url)
