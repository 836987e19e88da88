"""The Management API as declared operations: one declaration gives the route, the scope
check, and the OpenAPI entry (from the same pydantic models that validate the body)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idbroker.errors import BadRequest, IdbrokerError
from idbroker.http.requests import client_ip
from idbroker.management import auth
from idbroker.management import logs as api_log
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

Handler = Callable[[Request, Runtime, VerifiedAccessToken], Awaitable[Response]]


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Starlette form, e.g. /api/v2/users/{id}
    scopes: tuple[str, ...]
    summary: str
    tag: str
    handler: Handler
    body: Any = None  # a pydantic model class validating the request body
    response: Any = None  # a type for the success response (model, list[model], a union)
    status: int = 200
    query: tuple[QueryParam, ...] = field(default_factory=tuple)
    # The Starlette route when it differs from ``path`` (e.g. {id:path} for ids holding "/").
    route_path: str | None = None


OPERATIONS: list[Operation] = []

# Query parameters many list operations share (Auth0's paging and field selection).
PAGING = (
    QueryParam("page", {"type": "integer", "minimum": 0}),
    QueryParam("per_page", {"type": "integer", "minimum": 1, "maximum": 100}),
    QueryParam("include_totals", {"type": "boolean"}),
    QueryParam("from", {"type": "string"}, "checkpoint cursor from a previous `next`"),
    QueryParam("take", {"type": "integer", "minimum": 1, "maximum": 100}),
)
FIELDS = (
    QueryParam("fields", {"type": "string"}, "comma-separated field names"),
    QueryParam("include_fields", {"type": "boolean"}),
)


def operation(method: str, path: str, *, scopes: tuple[str, ...], summary: str, tag: str,
              body: Any = None, response: Any = None, status: int = 200,
              query: tuple[QueryParam, ...] = (),
              route_path: str | None = None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        OPERATIONS.append(Operation(method, path, scopes, summary, tag, handler, body, response,
                                    status, query, route_path))
        return handler
    return register


def _route(op: Operation) -> Route:
    async def endpoint(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        if len(request.headers.getlist("authorization")) > 1:
            # Two credentials are ambiguous: which one a proxy or we would read differs.
            raise BadRequest("Send one Authorization header", error_code="invalid_request")
        caller = None
        try:
            # A kid we do not know may be a key another process just rotated in.
            await rt.keys.sync_for(rt.store, request.headers.get("authorization"))
            caller = auth.authenticate(rt, request.headers.get("authorization"),
                                       "access_token" in request.query_params)
            if op.scopes:
                auth.require(caller, *op.scopes)
            response = await op.handler(request, rt, caller)
        except IdbrokerError as exc:
            # fapi: failed writes and failed authentication (management/logs.py).
            await api_log.record_call(rt, op.method, request.url.path, op.summary, caller,
                                      error=exc, ip=client_ip(request))
            raise
        if op.method != "GET":  # a successful read is not recorded (management/logs.py)
            await api_log.record_call(rt, op.method, request.url.path, op.summary, caller,
                                      status=response.status_code, ip=client_ip(request))
        return response
    return Route(op.route_path or op.path, endpoint, methods=[op.method])


def routes() -> list[Route]:
    return [_route(op) for op in OPERATIONS]
