"""`python bench/profile_startup.py DATA_DIR [--workers N] [--rounds R] [--seed USERS]
[--compare SRC]`: how long `idbroker serve` takes from exec to its first answered request,
against a seeded data directory, and where the time goes (import of the CLI and the app).

``--seed USERS`` seeds DATA_DIR first when it holds no database yet (as a bench run does,
straight through the store; the connection's upstream need not run). ``--compare SRC`` runs
another source tree's ``src`` (e.g. ``git archive HEAD~1 src | tar -x -C /tmp/before``)
interleaved with this one, start for start, so that both see the same load on a shared box.
Prints each start and the median, with the CPU-seconds all of the server's processes used."""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import VENV_BIN, free_port  # noqa: E402


def first_answer(data_dir: Path, workers: int, env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the first answer, CPU seconds the whole process tree used, start to stop)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = _first_answer(data_dir, workers, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _first_answer(data_dir: Path, workers: int, env: dict[str, str]) -> float:
    port = free_port()
    env = {**env, "IDBROKER_DATA_DIR": str(data_dir),
           "IDBROKER_ISSUER": f"http://127.0.0.1:{port}/", "IDBROKER_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    proc = subprocess.Popen([str(VENV_BIN / "idbroker"), "serve", "--port", str(port),
                             "--workers", str(workers)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration",
                             timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.01)
        raise RuntimeError("no answer in 60 s")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait()


def import_s(module: str, env: dict[str, str], rounds: int = 5) -> float:
    """Median wall time of a fresh interpreter importing ``module``."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, env=env)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def seed_if_empty(data_dir: Path, users: int) -> None:
    from bench import seed
    from idbroker.settings import Settings

    if (data_dir / "idbroker.db").exists():
        return
    print(f"seeding {users:,} users into {data_dir}")
    settings = Settings(data_dir=data_dir, issuer="http://127.0.0.1:9/", log_level="WARNING")
    asyncio.run(seed.seed(settings, users=users, upstream_url="http://127.0.0.1:9",
                          upstream_secret="bench-upstream-secret"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=None, metavar="USERS",
                   help="seed DATA_DIR with this many users first, if it has no database")
    p.add_argument("--compare", type=Path, default=None, metavar="SRC",
                   help="another source tree (holding src/idbroker) to run interleaved")
    args = p.parse_args()
    if args.seed is not None:
        seed_if_empty(args.data_dir, args.seed)
    trees: dict[str, dict[str, str]] = {"this tree": dict(os.environ)}
    if args.compare is not None:
        other = str((args.compare / "src").resolve())
        trees[str(args.compare)] = {**os.environ, "PYTHONPATH": other}
    for name, env in trees.items():
        print(f"[{name}] python -c pass:           {import_s('sys', env):.2f} s")
        print(f"[{name}] import idbroker.cli.main: {import_s('idbroker.cli.main', env):.2f} s")
        print(f"[{name}] import idbroker.http.app: {import_s('idbroker.http.app', env):.2f} s")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for n in range(args.rounds):
        for name, env in trees.items():
            wall, cpu = first_answer(args.data_dir, args.workers, env)
            results[name].append((wall, cpu))
            print(f"[{name}] {n + 1}: serve --workers {args.workers}: first answer after "
                  f"{wall:.2f} s; {cpu:.2f} CPU-s used by its processes "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for name, runs in results.items():
        walls, cpus = sorted(w for w, _ in runs), sorted(c for _, c in runs)
        print(f"[{name}] {len(runs)} starts: first answer median {statistics.median(walls):.2f} s "
              f"(min {walls[0]:.2f}, max {walls[-1]:.2f}); CPU-s median "
              f"{statistics.median(cpus):.2f} (min {cpus[0]:.2f}, max {cpus[-1]:.2f})")


if __name__ == "__main__":
    main()
