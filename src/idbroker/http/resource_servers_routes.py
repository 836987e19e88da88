"""Management API operations on resource servers (APIs apps request access tokens for)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.http.errors import NO_STORE
from idbroker.http.operations import PAGING, QueryParam, operation
from idbroker.http.requests import read_json
from idbroker.management import paging, resource_servers, schemas
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

# Auth0 takes the id or the URL-encoded identifier (often a URL, so it may hold "/").
BY_ID = "/api/v2/resource-servers/{id:path}"


def _json(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


@operation("GET", "/api/v2/resource-servers", scopes=("read:resource_servers",),
           tag="resource-servers", summary="List resource servers (APIs)",
           response=list[schemas.ResourceServerOut] | schemas.ResourceServersPage,
           query=(*PAGING, QueryParam("identifiers", {"type": "string"},
                                      "only these identifiers (repeatable)")))
async def list_resource_servers(request: Request, rt: Runtime,
                                caller: VerifiedAccessToken) -> Response:
    q = request.query_params
    found = await resource_servers.list_all(rt.store, rt.settings, q.getlist("identifiers"))
    return _json(paging.page(found, q, "resource_servers"))


@operation("POST", "/api/v2/resource-servers", scopes=("create:resource_servers",),
           tag="resource-servers", summary="Create a resource server",
           body=resource_servers.ResourceServerCreate, response=schemas.ResourceServerOut,
           status=201)
async def create_resource_server(request: Request, rt: Runtime,
                                 caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await resource_servers.create(rt.store, rt.settings, body), 201)


@operation("GET", "/api/v2/resource-servers/{id}", scopes=("read:resource_servers",),
           tag="resource-servers", summary="Get a resource server by id or identifier",
           response=schemas.ResourceServerOut, route_path=BY_ID)
async def get_resource_server(request: Request, rt: Runtime,
                              caller: VerifiedAccessToken) -> Response:
    return _json(await resource_servers.get(rt.store, rt.settings, request.path_params["id"]))


@operation("PATCH", "/api/v2/resource-servers/{id}", scopes=("update:resource_servers",),
           tag="resource-servers", summary="Update a resource server",
           body=resource_servers.ResourceServerChanges, response=schemas.ResourceServerOut,
           route_path=BY_ID)
async def update_resource_server(request: Request, rt: Runtime,
                                 caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await resource_servers.update(rt.store, rt.settings, request.path_params["id"],
                                               body))


@operation("DELETE", "/api/v2/resource-servers/{id}", scopes=("delete:resource_servers",),
           tag="resource-servers", summary="Delete a resource server and its client grants",
           status=204, route_path=BY_ID)
async def delete_resource_server(request: Request, rt: Runtime,
                                 caller: VerifiedAccessToken) -> Response:
    await resource_servers.delete(rt.store, rt.settings, request.path_params["id"])
    return Response(status_code=204)
