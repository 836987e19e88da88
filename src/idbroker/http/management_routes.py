"""The Management API's operations on clients, connections and client grants (users are in
users_routes.py). Each handler calls the framework-free resource module; `operations` adds auth
and the OpenAPI entry."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.http.errors import NO_STORE
from idbroker.http.operations import PAGING, QueryParam, operation
from idbroker.http.requests import read_json
from idbroker.management import client_grants, clients, connections, paging, schemas
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime



def json_response(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def path_param(request: Request, name: str = "id") -> str:
    return str(request.path_params[name])


@operation("GET", "/api/v2/clients", scopes=("read:clients",), tag="clients",
           summary="List clients", response=list[schemas.ClientOut] | schemas.ClientsPage,
           query=PAGING)
async def list_clients(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    found = await clients.list_all(rt.store)
    return json_response(paging.page(found, request.query_params, "clients"))


@operation("POST", "/api/v2/clients", scopes=("create:clients",), tag="clients",
           summary="Create a client (its secret is in this response only)",
           body=clients.ClientCreate, response=schemas.ClientOut, status=201)
async def create_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await clients.create(rt.store, body), 201)


@operation("GET", "/api/v2/clients/{id}", scopes=("read:clients",), tag="clients",
           summary="Get a client", response=schemas.ClientOut)
async def get_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return json_response(await clients.get(rt.store, path_param(request)))


@operation("PATCH", "/api/v2/clients/{id}", scopes=("update:clients",), tag="clients",
           summary="Update a client", body=clients.ClientChanges, response=schemas.ClientOut)
async def update_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await clients.update(rt.store, path_param(request), body))


@operation("POST", "/api/v2/clients/{id}/rotate-secret", scopes=("update:clients",),
           tag="clients", summary="Rotate a client's secret", response=schemas.ClientOut)
async def rotate_client_secret(request: Request, rt: Runtime,
                               caller: VerifiedAccessToken) -> Response:
    return json_response(await clients.rotate_secret(rt.store, path_param(request)))


@operation("DELETE", "/api/v2/clients/{id}", scopes=("delete:clients",), tag="clients",
           summary="Delete a client", status=204)
async def delete_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    await clients.delete(rt.store, path_param(request))
    return Response(status_code=204)


@operation("GET", "/api/v2/connections", scopes=("read:connections",), tag="connections",
           summary="List connections",
           response=list[schemas.ConnectionOut] | schemas.ConnectionsPage,
           query=(*PAGING, QueryParam("strategy", {"type": "string"}),
                  QueryParam("name", {"type": "string"})))
async def list_connections(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    q = request.query_params
    found = await connections.list_all(rt.store, strategy=q.get("strategy"), name=q.get("name"))
    return json_response(paging.page(found, q, "connections"))


@operation("POST", "/api/v2/connections", scopes=("create:connections",), tag="connections",
           summary="Create a connection (options.client_secret is write-only)",
           body=connections.ConnectionCreate, response=schemas.ConnectionOut, status=201)
async def create_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await connections.create(rt.store, rt.policy, body), 201)


@operation("GET", "/api/v2/connections/{id}", scopes=("read:connections",), tag="connections",
           summary="Get a connection", response=schemas.ConnectionOut)
async def get_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return json_response(await connections.get(rt.store, path_param(request)))


@operation("PATCH", "/api/v2/connections/{id}", scopes=("update:connections",),
           tag="connections", summary="Update a connection (options are replaced as a whole)",
           body=connections.ConnectionChanges, response=schemas.ConnectionOut)
async def update_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await connections.update(rt.store, rt.policy, path_param(request), body))


@operation("DELETE", "/api/v2/connections/{id}", scopes=("delete:connections",),
           tag="connections", summary="Delete a connection and its users", status=204)
async def delete_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    await connections.delete(rt.store, path_param(request))
    return Response(status_code=204)


@operation("GET", "/api/v2/client-grants", scopes=("read:client_grants",), tag="client-grants",
           summary="List client grants",
           response=list[schemas.ClientGrantOut] | schemas.ClientGrantsPage,
           query=(*PAGING, QueryParam("client_id", {"type": "string"}),
                  QueryParam("audience", {"type": "string"})))
async def list_client_grants(request: Request, rt: Runtime,
                             caller: VerifiedAccessToken) -> Response:
    q = request.query_params
    found = await client_grants.list_all(rt.store, rt.settings, client_id=q.get("client_id"),
                                         audience=q.get("audience"))
    return json_response(paging.page(found, q, "client_grants"))


@operation("POST", "/api/v2/client-grants", scopes=("create:client_grants",),
           tag="client-grants", summary="Create a client grant",
           body=client_grants.GrantCreate, response=schemas.ClientGrantOut, status=201)
async def create_client_grant(request: Request, rt: Runtime,
                              caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await client_grants.create(rt.store, rt.settings, body), 201)


@operation("GET", "/api/v2/client-grants/{id}", scopes=("read:client_grants",),
           tag="client-grants", summary="Get a client grant", response=schemas.ClientGrantOut)
async def get_client_grant(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return json_response(await client_grants.get(rt.store, path_param(request)))


@operation("PATCH", "/api/v2/client-grants/{id}", scopes=("update:client_grants",),
           tag="client-grants", summary="Update a client grant's scopes",
           body=client_grants.GrantUpdate, response=schemas.ClientGrantOut)
async def update_client_grant(request: Request, rt: Runtime,
                              caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await client_grants.update(rt.store, path_param(request), body))


@operation("DELETE", "/api/v2/client-grants/{id}", scopes=("delete:client_grants",),
           tag="client-grants", summary="Delete a client grant", status=204)
async def delete_client_grant(request: Request, rt: Runtime,
                              caller: VerifiedAccessToken) -> Response:
    await client_grants.delete(rt.store, path_param(request))
    return Response(status_code=204)
