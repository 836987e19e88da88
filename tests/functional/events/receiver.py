"""A real webhook receiver on loopback (uvicorn), verifying signatures as docs/events.md tells
receivers to, and answering what a test scripts (success, failures, a redirect)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idbroker.clock import now_s
from idbroker.lifecycle.events import SIGNATURE_HEADER, verify


@dataclass
class Receiver:
    secrets: dict[str, str] = field(default_factory=dict)  # path → signing secret
    # path → statuses to answer, in order (then 200); 302 redirects to /elsewhere
    script: dict[str, list[int]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    bad_signatures: int = 0
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def deliveries(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["path"] == path]

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        self.raw.append(body)
        secret = self.secrets.get(path)
        if secret is None or not verify(secret, request.headers.get(SIGNATURE_HEADER, ""),
                                        body, now=now_s()):
            self.bad_signatures += 1
            return Response(status_code=400)
        self.received.append({"path": path, "body": json.loads(body),
                              "headers": dict(request.headers)})
        statuses = self.script.get(path) or []
        status = statuses.pop(0) if statuses else 200
        if status == 302:
            return Response(status_code=302, headers={"location": self.url("/elsewhere")})
        return Response(status_code=status)


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    receiver.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
