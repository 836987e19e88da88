"""Management API operations on the log: search, one event, one user's events."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.http.errors import NO_STORE
from idbroker.http.operations import QueryParam, operation
from idbroker.management import logs, schemas
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

PAGED = (
    QueryParam("page", {"type": "integer", "minimum": 0}),
    QueryParam("per_page", {"type": "integer", "minimum": 1, "maximum": 100}),
    QueryParam("include_totals", {"type": "boolean"}),
    QueryParam("sort", {"type": "string", "enum": ["date:1", "date:-1"]}),
    QueryParam("fields", {"type": "string"}, "comma-separated field names"),
    QueryParam("include_fields", {"type": "boolean"}),
)


def _json(body: object) -> Response:
    return JSONResponse(body, headers=NO_STORE)


@operation("GET", "/api/v2/logs", scopes=("read:logs",), tag="logs",
           summary="Search log events (q, page/per_page, or from/take checkpoints)",
           response=list[schemas.LogOut] | schemas.LogsPage,
           query=(*PAGED, QueryParam("q", {"type": "string"}, "see docs/logs.md"),
                  QueryParam("from", {"type": "string"}, "log_id to continue after"),
                  QueryParam("take", {"type": "integer", "minimum": 1, "maximum": 100})))
async def search_logs(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await logs.search(rt, request.query_params))


@operation("GET", "/api/v2/logs/{id}", scopes=("read:logs",), tag="logs",
           summary="Get a log event", response=schemas.LogOut)
async def get_log(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await logs.get(rt, request.path_params["id"]))


@operation("GET", "/api/v2/users/{id}/logs", scopes=("read:logs_users", "read:logs"),
           tag="logs", summary="A user's log events",
           response=list[schemas.LogOut] | schemas.LogsPage, query=PAGED)
async def user_logs(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    params = {k: v for k, v in request.query_params.items() if k != "q"}
    return _json(await logs.search(rt, params, user_id=request.path_params["id"]))

