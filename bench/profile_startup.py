"""`python bench/profile_startup.py DATA_DIR [--workers N]`: how long `idbroker serve` takes
from exec to its first answered request, against a data directory a bench run seeded, and
where the time goes (import of the CLI, `initialise`, uvicorn's workers). Prints the times."""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import VENV_BIN, free_port  # noqa: E402


def first_answer(data_dir: Path, workers: int) -> tuple[float, float]:
    """(seconds to the first answer, CPU seconds the whole process tree used, start to stop)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = _first_answer(data_dir, workers)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _first_answer(data_dir: Path, workers: int) -> float:
    port = free_port()
    env = {**os.environ, "IDBROKER_DATA_DIR": str(data_dir),
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


def import_s(module: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - began


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print(f"python -c pass:           {import_s('sys'):.2f} s")
    print(f"import idbroker.cli.main: {import_s('idbroker.cli.main'):.2f} s")
    print(f"import idbroker.http.app: {import_s('idbroker.http.app'):.2f} s")
    for _ in range(args.rounds):
        wall, cpu = first_answer(args.data_dir, args.workers)
        print(f"serve --workers {args.workers}: first answer after {wall:.2f} s; "
              f"{cpu:.2f} CPU-s used by its processes (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
