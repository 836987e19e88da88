"""`python bench/run.py [--quick] [--users N] [--store sqlite|postgres]`: one command that starts
everything on loopback, seeds, runs every scenario next to its baselines and writes
bench/results/{store}-{users}.{json,md,png}. See docs/performance.md."""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import drivers, oidc_provider, report, seed, servers, signing, wrk  # noqa: E402

# A database of its own (create it first: CREATE DATABASE idbroker_bench): the run wipes it.
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/idbroker_bench"
STORM_UPSTREAM_DELAY_S = 0.05
LIGHT_CONNECTIONS = 8


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="short scenarios, one round")
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", PG_URL),
                   help="PostgreSQL database to wipe and use (--store postgres)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--storm-reads", type=int, default=1000)
    p.add_argument("--storm-only", action="store_true",
                   help="seed, start the upstream and idbroker, run only the refresh storm")
    p.add_argument("--storm-client", choices=("lean", "httpx", "both"), default="lean",
                   help="the storm's HTTP client (bench/drivers.py storm); both: alternate")
    p.add_argument("--storm-rounds", type=int, default=1,
                   help="storms in a row, the token expired again before each; median")
    p.add_argument("--read-only", action="store_true",
                   help="only hello-world, read, the oidc-provider userinfo baseline and the "
                        "footprint (e.g. for --users 1000000)")
    p.add_argument("--reuse", type=Path, default=None,
                   help="data directory a previous run seeded with --users N (with "
                        "--store postgres: and the database of --pg-url, which is then not "
                        "wiped): serve it again instead of seeding (with --read-only)")
    p.add_argument("--no-oidc-provider", action="store_true",
                   help="skip the node-oidc-provider baselines")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return p.parse_args()


def _machine() -> dict[str, Any]:
    versions = {}
    for dist in ("idbroker", "uvicorn", "starlette", "sqlalchemy", "aiosqlite", "asyncpg",
                 "joserfc", "cryptography", "httpx", "uvloop", "httptools"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    model = next((ln.split(":", 1)[1].strip() for ln in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "wrk": wrk.version(), "versions": versions,
            "loadavg_before": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def _mgmt_token(broker: str, client: tuple[str, str], audience: str) -> str:
    response = httpx.post(f"{broker}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1],
        "audience": audience})
    response.raise_for_status()
    return response.json()["access_token"]


def _on(server: servers.Server, url: str, **kwargs: Any) -> dict[str, Any]:
    """A wrk run, plus the CPU the server's process tree spent on it: requests per server
    CPU-second barely moves with the other load of a shared machine, wall-clock req/s does."""
    before = server.cpu_seconds()
    result = wrk.run(url, **kwargs)
    cpu = server.cpu_seconds() - before
    ok = result["requests"] - result["non_2xx"]
    result["server_cpu_s"] = cpu
    result["per_cpu_s"] = ok / cpu if cpu > 0 else None
    return result


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(runs[0])
    for key in ("rps", "p50_ms", "p99_ms", "per_cpu_s"):
        values = [r[key] for r in runs if r.get(key) is not None]
        best[key] = statistics.median(values) if values else None
    best["rounds"] = [{k: r.get(k) for k in ("rps", "p50_ms", "p99_ms", "errors", "per_cpu_s")}
                      for r in runs]
    best.pop("raw", None)
    return best


def _sub_of(id_token: str) -> str:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


async def _storm_setup(settings: Any, user_id: str) -> str:
    from idbroker.vault.crypto import Vault
    from idbroker.vault.db import create_engine
    from idbroker.vault.keyfile import load_vault_keys
    from idbroker.vault.store import Store
    engine = create_engine(settings.sqlalchemy_url)
    try:
        return await seed.expire_tokens(Store(engine, Vault(load_vault_keys(settings))), user_id)
    finally:
        await engine.dispose()


def _cpu_of(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _storm(args: argparse.Namespace, settings: Any, idb: servers.Server, broker: str,
           upstream: str, seeded: Any, token: str) -> dict[str, Any]:
    """The refresh storm, ``--storm-rounds`` times (the token expired again before each),
    with the server CPU each storm cost; the median round is reported, all rounds kept."""
    print(f"bench: refresh storm ({args.storm_reads} reads × {args.storm_rounds})")

    async def login_once() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http:
            return await drivers.one_login(http, broker, seeded.app_client)
    user_id = _sub_of(asyncio.run(login_once())["id_token"])
    httpx.post(f"{upstream}/_bench/delay", json={"token_delay": STORM_UPSTREAM_DELAY_S})
    clients = ["lean", "httpx"] if args.storm_client == "both" else [args.storm_client]
    rounds = []
    for n in range(args.storm_rounds * len(clients)):
        old = asyncio.run(_storm_setup(settings, user_id))
        time.sleep(0.5)
        pids = [idb.proc.pid, *idb.workers()]
        fired: list[float] = []
        storm = asyncio.run(drivers.storm(
            broker, upstream, f"/api/v2/users/{quote(user_id, safe='')}", token, old,
            reads=args.storm_reads, client=clients[n % len(clients)],
            on_fire=lambda: fired.append(_cpu_of(pids))))
        # From the moment the requests go out (the lean client's connections are already
        # accepted) to the end; the httpx client still connects after that.
        storm["server_cpu_s"] = _cpu_of(pids) - fired[0]
        storm["server_cpu_ms_per_read"] = storm["server_cpu_s"] * 1000 / args.storm_reads
        storm["upstream_delay_ms"] = STORM_UPSTREAM_DELAY_S * 1000
        # The same storm again, nothing to refresh now: the floor the refresh adds to.
        fired.clear()
        calm = asyncio.run(drivers.storm(
            broker, upstream, f"/api/v2/users/{quote(user_id, safe='')}", token, old,
            reads=args.storm_reads, client=clients[n % len(clients)],
            on_fire=lambda: fired.append(_cpu_of(pids))))
        calm["server_cpu_s"] = _cpu_of(pids) - fired[0]
        storm["no_refresh"] = {k: calm[k] for k in ("p50_ms", "p99_ms", "min_ms", "max_ms",
                                                    "server_cpu_s", "client_cpu_s", "non_200")}
        print("bench: storm " + " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in storm.items() if k != "no_refresh"))
        print("bench: storm, token fresh: " + " ".join(
            f"{k}={v:.1f}" for k, v in storm["no_refresh"].items()))
        rounds.append(storm)
    lean = [r for r in rounds if r["client"] == clients[0]]
    best = dict(sorted(lean, key=lambda r: r["p99_ms"])[len(lean) // 2])
    best["upstream_refreshes_max"] = max(r["upstream_refreshes"] for r in rounds)
    best["distinct_tokens_max"] = max(r["distinct_tokens"] for r in rounds)
    best["old_token_served_any"] = any(r["old_token_served"] for r in rounds)
    best["rounds"] = rounds
    return best


class _Done(Exception):
    """--read-only: the remaining scenarios are skipped."""


def _wal_mb(data_dir: Path) -> float:
    wal = data_dir / "idbroker.db-wal"
    return wal.stat().st_size / 1e6 if wal.exists() else 0.0


def main() -> None:
    args = _args()
    wrk.ensure_wrk()
    seconds, rounds = (4.0, 1) if args.quick else (10.0, 3)

    tmp = Path(tempfile.mkdtemp(prefix="idbroker-bench-"))
    ports = {name: servers.free_port() for name in ("broker", "upstream", "hello", "op")}
    op_version = (None if args.no_oidc_provider or args.storm_only
                  else oidc_provider.ensure_installed())
    broker = f"http://127.0.0.1:{ports['broker']}"
    upstream = f"http://127.0.0.1:{ports['upstream']}"
    if args.reuse and not args.read_only:
        raise SystemExit("bench: --reuse is for --read-only runs")
    if args.store == "postgres" and not args.reuse:
        asyncio.run(seed.reset_postgres(args.pg_url))
    data_dir = args.reuse or tmp / "data"
    broker_env, settings = servers.broker_config(
        data_dir, broker, args.pg_url if args.store == "postgres" else None)
    upstream_secret = secrets.token_urlsafe(32)
    py_env = {"PYTHONPATH": str(ROOT)}
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "store": args.store,
        "users": args.users, "workers": args.workers, "seconds": seconds, "rounds": rounds,
        "connections": args.connections, "quick": args.quick, "read_only": args.read_only,
        "machine": _machine(), "scenarios": {}}
    if op_version:
        results["machine"]["versions"]["oidc-provider"] = op_version
        results["machine"]["versions"]["node"] = oidc_provider.node_version()
    started: list[servers.Server] = []
    try:
        print(f"bench: fake upstream on {upstream}")
        started.append(servers.Server("upstream", servers.uvicorn_cmd(
            "bench.upstream:create_app", ports["upstream"], 1, factory=True),
            {**py_env, "BENCH_UPSTREAM_ISSUER": upstream, "BENCH_UPSTREAM_SECRET": upstream_secret,
             "BENCH_UPSTREAM_CALLBACK": f"{broker}/login/callback"},
            f"{upstream}/.well-known/openid-configuration", tmp))
        if args.reuse:
            print(f"bench: reusing the {args.users:,} users seeded in {args.reuse}")
            seeded = asyncio.run(seed.reuse(settings, users=args.users))
            results["seed_s"], results["reused"] = None, str(args.reuse)
            results["warm_s"] = asyncio.run(seed.warm(settings))
            print(f"bench: store read into the page cache in {results['warm_s']:.1f} s")
        else:
            print(f"bench: seeding {args.users:,} users into {args.store}")
            began = time.perf_counter()
            seeded = asyncio.run(seed.seed(settings, users=args.users, upstream_url=upstream,
                                           upstream_secret=upstream_secret))
            results["seed_s"] = time.perf_counter() - began
            print(f"bench: seeded in {results['seed_s']:.1f} s")
        print(f"bench: starting idbroker serve --workers {args.workers}")
        idb = servers.Server("idbroker", servers.idbroker_cmd(ports["broker"], args.workers),
                             broker_env, f"{broker}/.well-known/openid-configuration", tmp)
        started.append(idb)
        token = _mgmt_token(broker, seeded.reader, settings.management_audience)
        if args.storm_only:
            results["scenarios"]["storm"] = _storm(args, settings, idb, broker, upstream,
                                                   seeded, token)
            raise _Done
        hello = servers.Server("hello", servers.uvicorn_cmd(
            "bench.hello:app", ports["hello"], args.workers), py_env,
            f"http://127.0.0.1:{ports['hello']}/hello", tmp)
        started.append(hello)
        op = op_token = None
        if op_version:
            op, op_token = oidc_provider.start(ports["op"], args.workers, tmp)
            started.append(op)
        op_url = f"http://127.0.0.1:{ports['op']}"

        paths = {"BENCH_TOKEN": token, "BENCH_USERS": str(len(seeded.user_ids)),
                 "BENCH_PATH_PREFIX": f"/api/v2/users/{quote(seed.USER_ID_PREFIX, safe='')}"}
        assert seeded.user_ids[-1] == seed.user_id_of(len(seeded.user_ids) - 1)
        run = dict(seconds=seconds, connections=args.connections, threads=2)
        hello_runs, read_runs, userinfo_runs, light_runs = [], [], [], []
        for n in range(rounds):
            # Interleaved, so each ratio compares runs made under the same machine load.
            print(f"bench: round {n + 1}/{rounds}: hello-world, read, oidc-provider userinfo")
            hello_runs.append(_on(hello, f"http://127.0.0.1:{ports['hello']}/hello", **run))
            read_runs.append(_on(idb, broker, script="read_users.lua", **run, env=paths))
            if op is not None:
                userinfo_runs.append(_on(op, f"{op_url}/me", script="get_bearer.lua", **run,
                                             env={"BENCH_TOKEN": op_token or ""}))
            # The same read below saturation: latency without 64 requests queued per core.
            light_runs.append(_on(idb, broker, script="read_users.lua",
                                  **{**run, "connections": LIGHT_CONNECTIONS}, env=paths))
        results["scenarios"]["hello"] = _median(hello_runs)
        results["scenarios"]["read"] = _median(read_runs)
        results["scenarios"]["read_light"] = _median(light_runs)
        if userinfo_runs:
            results["scenarios"]["op_userinfo"] = _median(userinfo_runs)
        results["footprint"] = {
            "startup_s": idb.startup_s, "worker_rss_mb": sorted(idb.rss_mb().values()),
            "oidc_provider_startup_s": op.startup_s if op else None,
            "oidc_provider_rss_mb": sorted(op.rss_mb().values()) if op else None,
            # After ~100 s of audited reads: the write-ahead log's file must stay bounded.
            "wal_mb": _wal_mb(data_dir) if args.store == "sqlite" else None}

        print("bench: raw RS256 signing rate")
        results["signing"] = {"rs256_per_core": signing.rs256_per_second()}
        if args.read_only:
            raise _Done
        print("bench: token, oidc-provider token")
        body = urlencode({"grant_type": "client_credentials", "client_id": seeded.reader[0],
                          "client_secret": seeded.reader[1],
                          "audience": settings.management_audience})
        token_runs, op_token_runs = [], []
        for _ in range(rounds):
            token_runs.append(_on(idb, f"{broker}/oauth/token", script="post_form.lua", **run,
                                      env={"BENCH_BODY": body}))
            if op is not None:
                op_token_runs.append(_on(op, f"{op_url}/token", script="post_form.lua", **run,
                                             env={"BENCH_BODY": oidc_provider.token_body()}))
        results["scenarios"]["token"] = _median(token_runs)
        if op_token_runs:
            results["scenarios"]["op_token"] = _median(op_token_runs)

        print("bench: login")
        results["scenarios"]["login"] = asyncio.run(drivers.logins(
            broker, seeded.app_client, seconds=seconds, concurrency=32))

        results["scenarios"]["storm"] = _storm(args, settings, idb, broker, upstream, seeded,
                                               token)
    except _Done:
        pass
    finally:
        for server in reversed(started):
            server.stop()
    if args.storm_only:
        out = args.out / f"storm-{args.store}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results["scenarios"]["storm"], indent=2))
        print(f"bench: wrote {out} (logs in {tmp})")
        return
    s = results["scenarios"]
    ratios = results["ratios"] = {"read_vs_hello": s["read"]["rps"] / s["hello"]["rps"]}
    # The same ratios per server CPU-second (see _on).
    cpu = results["ratios_per_cpu"] = {}
    for name, (a, b) in {"read_vs_hello": ("read", "hello"),
                         "read_vs_op_userinfo": ("read", "op_userinfo"),
                         "token_vs_op_token": ("token", "op_token")}.items():
        if s.get(a, {}).get("per_cpu_s") and s.get(b, {}).get("per_cpu_s"):
            cpu[name] = s[a]["per_cpu_s"] / s[b]["per_cpu_s"]
    if "op_userinfo" in s:
        ratios["read_vs_op_userinfo"] = s["read"]["rps"] / s["op_userinfo"]["rps"]
    if "token" in s:
        ratios["token_vs_signing"] = s["token"]["rps"] / (results["signing"]["rs256_per_core"]
                                                          * args.workers)
    if "op_token" in s:
        ratios["token_vs_op_token"] = s["token"]["rps"] / s["op_token"]["rps"]
    written = report.write(results, args.out)
    print(written.read_text())
    print(f"bench: wrote {written.with_suffix('.json')}, .md, .png (logs in {tmp})")


if __name__ == "__main__":
    main()
