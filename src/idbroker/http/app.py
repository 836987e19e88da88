"""The application factory."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.errors import NotFound
from idbroker.http import management_routes, oauth_routes, openapi, operations, pages
from idbroker.http import identity_tokens_routes  # noqa: F401  (registers operations)
from idbroker.http import users_routes  # noqa: F401  (registers operations)
from idbroker.http import resource_servers_routes  # noqa: F401  (registers operations)
from idbroker.http import keys_routes  # noqa: F401  (registers operations)
from idbroker.http import logs_routes  # noqa: F401  (registers operations)
from idbroker.http import event_endpoints_routes  # noqa: F401  (registers operations)
from idbroker.http import health_routes, lock_client_routes
from idbroker.http import dbconnections_routes
from idbroker.http import user_blocks_routes  # noqa: F401  (registers operations)
from idbroker.http.errors import EXCEPTION_HANDLERS, NO_STORE, management_response
from idbroker.http.fast_lane import FastLane, LaneStats
from idbroker.http.middleware import AccessLog, RejectNul, SecurityHeaders
from idbroker.http.ratelimit import RateLimit
from idbroker.http.route_index import index_routes
from idbroker.lifecycle import revocation
from idbroker.runtime import Runtime
from idbroker.settings import Settings


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/v2/"):
        if exc.status_code == 404:
            return management_response(NotFound("Not Found", error_code="not_found"))
        code = "method_not_allowed" if exc.status_code == 405 else "invalid_request"
        return JSONResponse({"statusCode": exc.status_code, "error": str(exc.detail),
                             "message": str(exc.detail), "errorCode": code},
                            status_code=exc.status_code, headers=NO_STORE)
    return JSONResponse({"error": "invalid_request", "error_description": str(exc.detail)},
                        status_code=exc.status_code, headers=NO_STORE)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               http: httpx.AsyncClient | None = None, extra_routes: list | None = None,
               fast_lane: bool = True) -> Starlette:
    """Build the ASGI app. With ``runtime`` given (tests), the caller owns its lifecycle;
    otherwise the app starts one from ``settings`` at start-up and closes it at shutdown.
    ``fast_lane=False`` only for the tests that compare the fast lane's answers with the
    full stack's (http/fast_lane.py)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            yield
            return
        started = await Runtime.start(settings or Settings(), http=http)
        app.state.runtime = started
        # Everything imported and built so far lives as long as the process: out of the
        # collector's sight, a full collection no longer walks it (80 ms, stalling every
        # request in flight: the read's p99), and forked workers keep sharing its pages.
        gc.freeze()
        try:
            yield
        finally:
            # Upstream revocations that answered requests started (a DELETE of IdP tokens)
            # finish before the store closes under them; their outbox rows would otherwise
            # wait for the revocation job of another start.
            await revocation.settle()
            await started.close()

    lane_stats = LaneStats()
    app = Starlette(
        routes=[*oauth_routes.routes, *pages.routes, *openapi.routes, *operations.routes(),
                *lock_client_routes.routes, *health_routes.routes,
                *dbconnections_routes.routes, *(extra_routes or [])],
        middleware=[*([Middleware(FastLane, stats=lane_stats)] if fast_lane else []),
                    Middleware(AccessLog), Middleware(SecurityHeaders), Middleware(RejectNul),
                    Middleware(RateLimit)],
        exception_handlers={**EXCEPTION_HANDLERS, HTTPException: _http_exception},
        lifespan=lifespan,
    )
    app.state.fast_lane = lane_stats
    index_routes(app.router)  # dispatch by index, not by scanning ~80 regexes (route_index.py)
    if runtime is not None:
        app.state.runtime = runtime
    return app


def create_app_from_env() -> Starlette:
    """Entry point for ``uvicorn --factory`` (used by ``idbroker serve --workers N``).

    The production checks run here too, so starting uvicorn directly cannot bypass them."""
    settings = Settings()
    problems = settings.production_problems()
    if problems:
        raise RuntimeError("refusing to start in production mode: " + "; ".join(problems))
    return create_app(settings)
