"""Health checks for load balancers and orchestrators (docs/deployment.md).

``GET /healthz`` (liveness) answers from the process alone: it never touches the database,
so a database outage does not make an orchestrator restart every healthy process.
``GET /readyz`` (readiness) also makes one round trip to the database, with a short deadline:
a process that cannot reach its store should be taken out of the load balancer's rotation.
Neither says anything about configuration, versions or keys."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from idbroker.vault.db import ping

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 2.0
HEADERS = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=HEADERS)


async def readyz(request: Request) -> JSONResponse:
    try:
        await asyncio.wait_for(ping(request.app.state.runtime.store.engine), READY_TIMEOUT_S)
    except Exception as exc:  # any failure to reach the store means: not ready
        log.warning("readiness check: database unreachable (%s)", type(exc).__name__)
        return JSONResponse({"status": "unavailable"}, status_code=503, headers=HEADERS)
    return JSONResponse({"status": "ok"}, headers=HEADERS)


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
