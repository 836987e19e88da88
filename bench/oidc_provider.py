"""The node-oidc-provider baseline (bench/oidc-provider/): installed with `npm ci` when missing,
started with the same number of processes as idbroker's workers (node:cluster)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from bench import servers

DIR = Path(__file__).parent / "oidc-provider"
CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-" + "x" * 32
RESOURCE = "urn:bench:api"


def ensure_installed() -> str:
    """The installed oidc-provider version; runs `npm ci` (the lock file's exact versions)
    when node_modules is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("bench: node and npm are needed for the oidc-provider baseline "
                         "(apt-get install -y nodejs npm), or pass --no-oidc-provider")
    manifest = DIR / "node_modules" / "oidc-provider" / "package.json"
    if not manifest.exists():
        print("bench: installing the oidc-provider baseline: npm ci (bench/oidc-provider)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=DIR, check=True,
                       stdout=subprocess.DEVNULL)
    return str(json.loads(manifest.read_text())["version"])


def node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


def start(port: int, workers: int, log_dir: Path) -> tuple[servers.Server, str]:
    """Start the cluster; return it and the access token its userinfo endpoint accepts."""
    server = servers.Server(
        "oidc-provider", ["node", str(DIR / "server.mjs")],
        {"PORT": str(port), "WORKERS": str(workers), "CLIENT_ID": CLIENT_ID,
         "CLIENT_SECRET": CLIENT_SECRET},
        f"http://127.0.0.1:{port}/.well-known/openid-configuration", log_dir)
    log = log_dir / "oidc-provider.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Every worker listens once the primary prints the token it minted for them.
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("BENCH_READY "):
                token = json.loads(line.removeprefix("BENCH_READY "))["userinfo_token"]
                server.startup_s = time.perf_counter() - server.started
                return server, str(token)
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"oidc-provider did not start; see {log}")


def token_body() -> str:
    return (f"grant_type=client_credentials&client_id={CLIENT_ID}"
            f"&client_secret={CLIENT_SECRET}&scope=read")
