"""`python bench/login.py [--store sqlite|postgres] [--seconds S] [--client httpx|lean]`: only
the login scenario of bench/run.py (authorize → upstream → callback → code exchange), with the
CPU each process spent per login: idbroker's workers, the fake upstream and this load client.
They share the machine's cores, so logins/s alone does not say whose cost it is."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import drivers, seed, servers  # noqa: E402
from bench.run import PG_URL  # noqa: E402


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", PG_URL))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--profile", type=Path, default=None,
                   help="directory: run idbroker as one cProfiled process (--workers ignored) "
                        "and profile this client too; writes idbroker.prof, client.prof")
    return p.parse_args()


_PROFILED = """
import cProfile, signal, sys, uvicorn
def stop(*_):
    raise SystemExit(0)
# uvicorn restores this handler and re-raises the SIGTERM it caught once it has shut down.
signal.signal(signal.SIGTERM, stop)
prof = cProfile.Profile()
prof.enable()
try:
    uvicorn.run("idbroker.http.app:create_app_from_env", factory=True, host="127.0.0.1",
                port=int(sys.argv[1]), access_log=False, log_level="warning")
finally:
    prof.disable()
    prof.dump_stats(sys.argv[2])
"""


def _profiled_idbroker(port: int, out: Path) -> list[str]:
    # One process (no uvicorn supervisor), so the profile holds all of idbroker's work.
    return [str(servers.VENV_BIN / "python"), "-c", _PROFILED, str(port), str(out)]


def _postgres_cpu_s() -> float:
    """CPU of every postgres process on the machine (the cluster's, not only our database's:
    other users of the cluster count too, so read it on a quiet cluster)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def main() -> None:
    args = _args()

    tmp = Path(tempfile.mkdtemp(prefix="idbroker-login-"))
    ports = {name: servers.free_port() for name in ("broker", "upstream")}
    broker = f"http://127.0.0.1:{ports['broker']}"
    upstream = f"http://127.0.0.1:{ports['upstream']}"
    if args.store == "postgres":
        asyncio.run(seed.reset_postgres(args.pg_url))
    data_dir = tmp / "data"
    env, settings = servers.broker_config(
        data_dir, broker, args.pg_url if args.store == "postgres" else None)
    secret = secrets.token_urlsafe(32)
    started: list[servers.Server] = []
    try:
        up = servers.Server("upstream", servers.uvicorn_cmd(
            "bench.upstream:create_app", ports["upstream"], 1, factory=True),
            {"PYTHONPATH": str(ROOT), "BENCH_UPSTREAM_ISSUER": upstream,
             "BENCH_UPSTREAM_SECRET": secret,
             "BENCH_UPSTREAM_CALLBACK": f"{broker}/login/callback"},
            f"{upstream}/.well-known/openid-configuration", tmp)
        started.append(up)
        seeded = asyncio.run(seed.seed(settings, users=10, upstream_url=upstream,
                                       upstream_secret=secret))
        cmd = (_profiled_idbroker(ports["broker"], args.profile.resolve() / "idbroker.prof")
               if args.profile else servers.idbroker_cmd(ports["broker"], args.workers))
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            from idbroker.bootstrap import initialise
            asyncio.run(initialise(settings))
        idb = servers.Server("idbroker", cmd, env, f"{broker}/.well-known/openid-configuration", tmp)
        started.append(idb)
        # Warm-up: discovery, JWKS, connection pools, first login of the account.
        asyncio.run(drivers.logins(broker, seeded.app_client, seconds=1.0,
                                   concurrency=args.concurrency))
        for n in range(args.rounds):
            cpu = (idb.cpu_seconds(), up.cpu_seconds(), time.process_time(), _postgres_cpu_s())
            run = drivers.logins(broker, seeded.app_client, seconds=args.seconds,
                                 concurrency=args.concurrency)
            if args.profile:
                import cProfile
                with cProfile.Profile() as prof:
                    result = asyncio.run(run)
                prof.dump_stats(args.profile / "client.prof")
            else:
                result = asyncio.run(run)
            spent = (idb.cpu_seconds() - cpu[0], up.cpu_seconds() - cpu[1],
                     time.process_time() - cpu[2], _postgres_cpu_s() - cpu[3])
            done = max(result["requests"], 1)
            names = ("idbroker_ms", "upstream_ms", "client_ms", "postgres_ms")
            per = {name: 1000 * s / done for name, s in zip(names, spent)
                   if name != "postgres_ms" or args.store == "postgres"}
            print(json.dumps({"store": args.store, "round": n + 1,
                              "logins_s": round(result["rps"], 1),
                              "p50_ms": round(result["p50_ms"], 1),
                              "p99_ms": round(result["p99_ms"], 1), "logins": result["requests"],
                              "errors": result["errors"], "first_failure": result["first_failure"],
                              "cpu_per_login": {k: round(v, 2) for k, v in per.items()},
                              "total_cpu_ms": round(sum(per.values()), 2)}))
    finally:
        for server in reversed(started):
            server.stop()


if __name__ == "__main__":
    main()
