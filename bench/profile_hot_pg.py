"""`python bench/profile_hot_pg.py DATA_DIR --database-url URL [--n 3000] [--rounds 3]`:
bench/profile_hot.py's read and token scenarios on PostgreSQL, counting the PostgreSQL
server's CPU too: the backends connected to the benchmark's database share the machine's cores,
so requests per client CPU-second alone flatters PostgreSQL.

Backend CPU is read from /proc (utime + stime of every ``postgres: … <db> …`` process,
sampled every 50 ms so backends that come and go are counted; a backend's last < 50 ms before
it exits may be missed). PostgreSQL's shared processes (WAL writer, checkpointer) serve every
database on the machine and are left out. Needs the server on this machine."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.profile_hot import ISSUER, drive, hot_scenarios  # noqa: E402
from idbroker.http.app import create_app  # noqa: E402
from idbroker.runtime import Runtime  # noqa: E402
from idbroker.settings import Settings  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU seconds used by the PostgreSQL backends of one database since ``start``."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} ".encode()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self, into_first: bool) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmd = f.read()
                if not cmd.startswith(b"postgres: ") or self.marker not in cmd:
                    continue
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / TICK
            pid = int(name)
            if into_first:
                self.first[pid] = cpu
            self.last[pid] = cpu

    def _poll(self) -> None:
        while not self.stop.wait(0.05):
            self._sample(False)

    def start(self) -> None:
        self._sample(True)
        self.thread.start()

    def finish(self) -> float:
        self.stop.set()
        self.thread.join()
        self._sample(False)
        return sum(v - self.first.get(pid, 0.0) for pid, v in self.last.items())


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--database-url", required=True)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, default=None, help="append the figures to this file")
    args = p.parse_args()
    settings = Settings(data_dir=args.data_dir, issuer=ISSUER, log_level="WARNING",
                        database_url=args.database_url, rate_limits={"enabled": False})
    database = args.database_url.rsplit("/", 1)[1].split("?")[0]
    rt = await Runtime.start(settings)
    app = create_app(settings, runtime=rt)
    scenarios = await hot_scenarios(rt, app)
    for one in scenarios.values():
        for _ in range(50):
            await one()
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in scenarios}
    for _ in range(args.rounds):
        for name, one in scenarios.items():
            backends = BackendCpu(database)
            backends.start()
            cpu, wall = time.process_time(), time.perf_counter()
            await drive(args.n, args.concurrency, one)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            pg = backends.finish()
            done = (args.n // args.concurrency) * args.concurrency
            figures[name].append({"app_us": cpu / done * 1e6, "pg_us": pg / done * 1e6,
                                  "per_cpu_s": done / (cpu + pg), "per_app_cpu_s": done / cpu,
                                  "per_wall_s": done / wall})
    for name, runs in figures.items():
        for r in runs:
            print(f"{name:6} app {r['app_us']:6.0f} µs + pg {r['pg_us']:5.0f} µs CPU/req  "
                  f"{r['per_app_cpu_s']:6.0f} per app CPU-s  {r['per_cpu_s']:6.0f} per "
                  f"(app+pg) CPU-s  {r['per_wall_s']:6.0f} req/s wall")
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps({"at": time.time(), "figures": figures}) + "\n")
    await rt.close()


if __name__ == "__main__":
    asyncio.run(main())
