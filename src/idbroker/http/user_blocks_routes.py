"""The Management API's user-blocks operations (docs/database-connections.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idbroker.http.management_routes import json_response, path_param
from idbroker.http.operations import QueryParam, operation
from idbroker.management import user_blocks
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

IDENTIFIER = (QueryParam("identifier", {"type": "string", "maxLength": 320},
                         "an email or username of a database connection"),)


@operation("GET", "/api/v2/user-blocks", scopes=("read:users",), tag="user-blocks",
           summary="Addresses blocked by brute-force protection for an identifier",
           response=user_blocks.UserBlocks, query=IDENTIFIER)
async def list_by_identifier(request: Request, rt: Runtime,
                             caller: VerifiedAccessToken) -> Response:
    return json_response(await user_blocks.for_identifier(
        rt, request.query_params.get("identifier")))


@operation("DELETE", "/api/v2/user-blocks", scopes=("update:users",), tag="user-blocks",
           summary="Lift the brute-force blocks of an identifier", status=204, query=IDENTIFIER)
async def delete_by_identifier(request: Request, rt: Runtime,
                               caller: VerifiedAccessToken) -> Response:
    await user_blocks.unblock_identifier(rt, request.query_params.get("identifier"))
    return Response(status_code=204)


@operation("GET", "/api/v2/user-blocks/{id}", scopes=("read:users",), tag="user-blocks",
           summary="Addresses blocked by brute-force protection for a user",
           response=user_blocks.UserBlocks)
async def list_for_user(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return json_response(await user_blocks.for_user(rt, path_param(request)))


@operation("DELETE", "/api/v2/user-blocks/{id}", scopes=("update:users",), tag="user-blocks",
           summary="Lift the brute-force blocks of a user", status=204)
async def delete_for_user(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    await user_blocks.unblock_user(rt, path_param(request))
    return Response(status_code=204)
