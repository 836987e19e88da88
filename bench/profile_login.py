"""`python bench/profile_login.py [--n 400] [--concurrency 8] [--cprofile FILE]`: idbroker's
CPU per login, step by step, in one process: idbroker's ASGI app and the fake upstream's
(bench/upstream.py) called directly, no sockets and no HTTP client, so what is left is the
server work. The upstream's own CPU (reached by idbroker through an in-process transport during
the callback, and by the "browser" at its /authorize) is timed apart and subtracted."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.drivers import authorize_params  # noqa: E402
from bench.profile_hot import call_full  # noqa: E402
from bench.seed import APP_CALLBACK, seed  # noqa: E402

ISSUER = "http://127.0.0.1:8000/"
UPSTREAM = "http://127.0.0.1:8999"
spent: dict[str, float] = defaultdict(float)


class Timed:
    """Accumulates the CPU its app spends (only valid while one request runs at a time in it,
    which is approximate under concurrency: CPU between awaits of others is counted too)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        began = time.process_time()
        try:
            await self.app(scope, receive, send)
        finally:
            spent["upstream"] += time.process_time() - began


def _cookies(headers: list[tuple[bytes, bytes]], jar: dict[str, str]) -> None:
    for name, value in headers:
        if name.lower() == b"set-cookie":
            pair, *attrs = value.decode().split(";")
            key, _, val = pair.partition("=")
            gone = any(a.strip().lower() in ("max-age=0", "max-age=-1") for a in attrs)
            if val and val != '""' and not gone:
                jar[key] = val
            else:
                jar.pop(key, None)


async def asgi(app: Any, method: str, url: str, headers: list[tuple[bytes, bytes]] | None = None,
               body: bytes = b"") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    return await call_full(app, method, path, headers or [], body, host=parts.netloc)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    return next(v.decode() for k, v in headers if k.lower() == name)


async def one_login(app: Any, upstream: Any, client: tuple[str, str],
                    jar: dict[str, str]) -> None:
    verifier, state, params = authorize_params(client[0])

    def cookie() -> list[tuple[bytes, bytes]]:
        return [(b"cookie", "; ".join(f"{k}={v}" for k, v in jar.items()).encode())] if jar else []

    began = time.process_time()
    status, headers, body = await asgi(app, "GET", f"{ISSUER}authorize?{urlencode(params)}",
                                       cookie())
    spent["authorize"] += time.process_time() - began
    assert status == 302, body
    _cookies(headers, jar)
    began = time.process_time()
    status, headers, body = await asgi(upstream, "GET", _header(headers, b"location"))
    spent["upstream"] += time.process_time() - began
    assert status in (302, 303), body
    began, up = time.process_time(), spent["upstream"]
    status, headers, body = await asgi(app, "GET", _header(headers, b"location"), cookie())
    spent["callback"] += time.process_time() - began - (spent["upstream"] - up)
    assert status == 302, body
    _cookies(headers, jar)
    query = parse_qs(urlsplit(_header(headers, b"location")).query)
    assert query["state"] == [state], query
    form = urlencode({"grant_type": "authorization_code", "client_id": client[0],
                      "client_secret": client[1], "code": query["code"][0],
                      "redirect_uri": APP_CALLBACK, "code_verifier": verifier}).encode()
    began = time.process_time()
    status, headers, body = await asgi(app, "POST", f"{ISSUER}oauth/token", [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(form)).encode())], form)
    spent["token"] += time.process_time() - began
    assert status == 200, body


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--database-url", default=None)
    p.add_argument("--cprofile", type=Path, default=None)
    p.add_argument("--statements", action="store_true",
                   help="print the SQL statements of one login, and stop")
    args = p.parse_args()
    from idbroker.http.app import create_app
    from idbroker.runtime import Runtime
    from idbroker.settings import Settings
    from tests.fakes.routing_transport import RoutingTransport

    secret = secrets.token_urlsafe(32)
    os.environ.update(BENCH_UPSTREAM_ISSUER=UPSTREAM, BENCH_UPSTREAM_SECRET=secret,
                      BENCH_UPSTREAM_CALLBACK=f"{ISSUER}login/callback")
    from bench.upstream import create_app as upstream_app
    upstream = upstream_app()
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="idbroker-plogin-")),
                        issuer=ISSUER, log_level="WARNING", database_url=args.database_url,
                        rate_limits={"enabled": False})
    if args.database_url:
        from bench.seed import reset_postgres
        await reset_postgres(args.database_url)
    http = httpx.AsyncClient(transport=RoutingTransport({"127.0.0.1:8999": Timed(upstream)}))
    # Seeding starts its own runtime, whose discovery goes through a real socket: serve it.
    seeded = await seed(settings, users=1, upstream_url=UPSTREAM, upstream_secret=secret)
    rt = await Runtime.start(settings, http=http)
    app = create_app(settings, runtime=rt)
    jars = [dict[str, str]() for _ in range(args.concurrency)]

    async def worker(jar: dict[str, str], count: int) -> None:
        for _ in range(count):
            await one_login(app, upstream, seeded.app_client, jar)

    await worker(jars[0], 20)  # warm: discovery, JWKS, statement caches
    if args.statements:
        from sqlalchemy import event
        seen: list[str] = []

        def log(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            seen.append(" ".join(statement.split())[:150])
        for engine in {rt.store.engine.sync_engine}:
            event.listen(engine, "before_cursor_execute", log)
        await worker(jars[0], 1)
        await asyncio.sleep(0.5)
        print(len(seen), "statements", *seen, sep="\n  ")
        return
    spent.clear()
    per = args.n // args.concurrency
    cpu = time.process_time()
    prof = None
    if args.cprofile:
        import cProfile
        prof = cProfile.Profile(time.process_time)
        prof.enable()
    await asyncio.gather(*(worker(jar, per) for jar in jars))
    if prof:
        prof.disable()
        prof.dump_stats(args.cprofile)
    total = time.process_time() - cpu
    done = per * args.concurrency
    print({k: round(1000 * v / done, 2) for k, v in spent.items()},
          "total ms/login", round(1000 * total / done, 2),
          "idbroker ms/login", round(1000 * (total - spent["upstream"]) / done, 2))
    await rt.close()
    await http.aclose()


if __name__ == "__main__":
    asyncio.run(main())
