"""`python bench/profile_hot.py DATA_DIR [--n 3000] [--concurrency 32] [--profile read|token]`:
server CPU per request of the hot paths, in one process, through the ASGI app called directly
(no HTTP client, no sockets), against a data directory a bench run seeded.

It prints, for the read (`GET /api/v2/users/{id}` with read:user_idp_tokens), the token
(`POST /oauth/token` client_credentials) and a hello-world Starlette endpoint: requests per
CPU-second of this process and the ratio to hello-world. CPU time, unlike wrk's wall-clock
figures, barely moves with the other load on a shared machine, so before/after comparisons of
a code change are meaningful here. `--profile` writes a pyinstrument profile of one scenario
to bench/results/profile_hot_{name}.txt (needs `pip install pyinstrument`, not a dependency)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bench.seed import _m2m  # noqa: E402
from idbroker.http.app import create_app  # noqa: E402
from idbroker.runtime import Runtime  # noqa: E402
from idbroker.settings import Settings  # noqa: E402
from idbroker.vault import schema as t  # noqa: E402

ISSUER = "http://127.0.0.1:8000/"


def _hello_app() -> Starlette:
    async def hello(request: Any) -> JSONResponse:
        return JSONResponse({"hello": "world"})
    return Starlette(routes=[Route("/hello", hello)])


async def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]],
               body: bytes = b"") -> tuple[int, bytes]:
    status, _, content = await call_full(app, method, path, headers, body)
    return status, content


async def call_full(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]],
                    body: bytes = b"", host: str = "127.0.0.1:8000",
                    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request to an ASGI app, no sockets: (status, response headers, body)."""
    raw_path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": unquote(raw_path),
             "raw_path": raw_path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(b"host", host.encode()), *headers],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "app": app}
    sent = False
    status, out_headers, chunks = 0, [], []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers.extend(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, out_headers, b"".join(chunks)


async def hot_scenarios(rt: Runtime, app: Any) -> dict[str, Callable[[], Awaitable[None]]]:
    """The read (``GET /api/v2/users/{id}`` with read:user_idp_tokens, a random seeded user)
    and the token (``POST /oauth/token`` client_credentials), each one request."""
    reader = await _m2m(rt, "profile reader", ["read:users", "read:user_idp_tokens"])
    async with rt.store.engine.connect() as conn:
        ids = list((await conn.execute(sa.select(t.users.c.user_id).limit(5000))).scalars())
    form = urlencode({"grant_type": "client_credentials", "client_id": reader[0],
                      "client_secret": reader[1],
                      "audience": rt.settings.management_audience}).encode()
    form_headers = [(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(form)).encode())]
    status, body = await call(app, "POST", "/oauth/token", form_headers, form)
    assert status == 200, body
    bearer = [(b"authorization", f"Bearer {json.loads(body)['access_token']}".encode())]

    async def read() -> None:
        path = f"/api/v2/users/{quote(random.choice(ids), safe='')}"
        status, body = await call(app, "GET", path, bearer)
        assert status == 200 and b"access_token" in body, body[:300]

    async def issue() -> None:
        status, body = await call(app, "POST", "/oauth/token", form_headers, form)
        assert status == 200, body

    return {"read": read, "token": issue}


async def drive(n: int, concurrency: int, one: Any) -> tuple[float, float]:
    """(requests per CPU-second, requests per wall-second)."""
    async def worker(count: int) -> None:
        for _ in range(count):
            await one()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = (n // concurrency) * concurrency
    return done / cpu, done / wall


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--database-url", default=None)
    p.add_argument("--profile", choices=("read", "token"), default=None)
    p.add_argument("--no-fast-lane", action="store_true",
                   help="through the full middleware stack (http/fast_lane.py off)")
    p.add_argument("--cprofile", choices=("read", "token"), default=None,
                   help="cProfile on CPU time (not wall time, which a loaded machine skews)")
    args = p.parse_args()
    settings = Settings(data_dir=args.data_dir, issuer=ISSUER, log_level="WARNING",
                        database_url=args.database_url, rate_limits={"enabled": False})
    rt = await Runtime.start(settings)
    app = create_app(settings, runtime=rt, fast_lane=not args.no_fast_lane)
    hello = _hello_app()

    async def hello_world() -> None:
        status, _ = await call(hello, "GET", "/hello", [])
        assert status == 200

    scenarios = {"hello": hello_world, **await hot_scenarios(rt, app)}
    for one in scenarios.values():  # warm: caches, connections, statement caches
        for _ in range(50):
            await one()
    if args.cprofile:
        import cProfile
        import pstats
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        await drive(args.n, args.concurrency, scenarios[args.cprofile])
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
    elif args.profile:
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        profiler.start()
        await drive(args.n, args.concurrency, scenarios[args.profile])
        profiler.stop()
        out = ROOT / "bench" / "results" / f"profile_hot_{args.profile}.txt"
        out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        print(out.read_text()[:8000])
    else:
        rates = {name: await drive(args.n, args.concurrency, one)
                 for name, one in scenarios.items()}
        for name, (per_cpu, per_wall) in rates.items():
            print(f"{name:6} {per_cpu:8.0f} req/CPU-s  {per_wall:8.0f} req/s wall  "
                  f"{per_cpu / rates['hello'][0]:.3f}x hello (CPU)")
    await rt.close()


if __name__ == "__main__":
    asyncio.run(main())
