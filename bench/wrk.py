"""Running wrk (Debian's package) with a Lua script and reading its JSON summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

LUA = Path(__file__).parent / "lua"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is not installed; installing Debian's package: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is still missing after apt-get install")
    return found


def version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].split(" [")[0]


def run(url: str, *, seconds: float, connections: int, threads: int, script: str | None = None,
        env: dict[str, str] | None = None) -> dict[str, Any]:
    lua = LUA / "report.lua"
    if script:
        # wrk takes one script: concatenate the scenario's with the shared reporter.
        combined = Path(tempfile.gettempdir()) / f"idbroker-wrk-{os.getpid()}-{script}"
        combined.write_text((LUA / script).read_text() + "\n" + lua.read_text())
        lua = combined
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--timeout", "10s", "-s", str(lua), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors",
                                    "status_errors", "timeouts"))
    ok = max(0, data["requests"] - data["status_errors"])
    return {"rps": ok / (data["duration_us"] / 1e6), "p50_ms": data["p50_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000, "requests": data["requests"], "errors": errors,
            "non_2xx": data["status_errors"], "connections": connections, "raw": data}
