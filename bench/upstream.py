"""The fast local fake upstream: the demo OpenID provider (src/idbroker/demo/upstream_idp.py)
plus two bench-only routes, to read its call counters and to set the token endpoint's delay.

Configured from the environment by bench/run.py: BENCH_UPSTREAM_ISSUER, BENCH_UPSTREAM_SECRET,
BENCH_UPSTREAM_CALLBACK. One process, so its counters are exact.
"""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from idbroker.demo.upstream_idp import (
    DEFAULT_DEMO_USERS, DemoClient, DemoIdp, DemoIdpConfig, create_demo_idp,
)

CLIENT_ID = "idbroker-bench"


def _idp(request: Request) -> DemoIdp:
    return request.app.state.idp


async def stats(request: Request) -> JSONResponse:
    idp = _idp(request)
    return JSONResponse({"calls": dict(idp.calls), "refreshes": request.app.state.refreshes,
                         "code_exchanges": request.app.state.exchanges})


async def set_delay(request: Request) -> JSONResponse:
    idp = _idp(request)
    idp.hooks.token_delay = float((await request.json())["token_delay"])
    return JSONResponse({"token_delay": idp.hooks.token_delay})


def create_app():  # type: ignore[no-untyped-def]
    users = list(DEFAULT_DEMO_USERS)
    app = create_demo_idp(DemoIdpConfig(
        issuer=os.environ["BENCH_UPSTREAM_ISSUER"], users=users, auto_approve=users[0].sub,
        clients=[DemoClient(CLIENT_ID, os.environ["BENCH_UPSTREAM_SECRET"],
                            [os.environ["BENCH_UPSTREAM_CALLBACK"]])]))
    idp: DemoIdp = app.state.idp
    app.state.refreshes = app.state.exchanges = 0
    refresh, exchange = idp.refresh, idp.exchange_code

    def counted_refresh(*args):  # type: ignore[no-untyped-def]
        app.state.refreshes += 1
        return refresh(*args)

    def counted_exchange(*args):  # type: ignore[no-untyped-def]
        app.state.exchanges += 1
        # The bench never reads issued bodies; keep the fake's memory flat over a long run.
        idp.issued.clear()
        return exchange(*args)

    idp.refresh, idp.exchange_code = counted_refresh, counted_exchange  # type: ignore[method-assign]
    app.router.routes.append(Route("/_bench/stats", stats))
    app.router.routes.append(Route("/_bench/delay", set_delay, methods=["POST"]))
    return app
