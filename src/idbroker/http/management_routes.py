"""The Management API's HTTP surface. Each handler authenticates the caller, checks the scope
and calls the framework-free resource module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idbroker.http.errors import NO_STORE
from idbroker.http.requests import client_ip, read_json
from idbroker.management import auth, client_grants, clients, connections, paging, users
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

Handler = Callable[[Request, Runtime, VerifiedAccessToken], Awaitable[Response]]


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def endpoint(*scopes: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            rt: Runtime = request.app.state.runtime
            caller = auth.authenticate(rt, request.headers.get("authorization"),
                                       "access_token" in request.query_params)
            if scopes:
                auth.require(caller, *scopes)
            return await handler(request, rt, caller)
        return route
    return wrap


def _path(request: Request, name: str) -> str:
    return str(request.path_params[name])


@endpoint("read:users")
async def get_user(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    q = request.query_params
    body = await users.get_user(rt, caller, _path(request, "id"), fields=q.get("fields"),
                                include_fields=q.get("include_fields"), ip=client_ip(request))
    return _json(body)


@endpoint("read:clients")
async def list_clients(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(paging.page(await clients.list_all(rt.store), request.query_params, "clients"))


@endpoint("create:clients")
async def create_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await clients.create(rt.store, body), 201)


@endpoint("read:clients")
async def get_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await clients.get(rt.store, _path(request, "id")))


@endpoint("update:clients")
async def update_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await clients.update(rt.store, _path(request, "id"), body))


@endpoint("update:clients")
async def rotate_client_secret(request: Request, rt: Runtime,
                               caller: VerifiedAccessToken) -> Response:
    return _json(await clients.rotate_secret(rt.store, _path(request, "id")))


@endpoint("delete:clients")
async def delete_client(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    await clients.delete(rt.store, _path(request, "id"))
    return Response(status_code=204)


@endpoint("read:connections")
async def list_connections(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    q = request.query_params
    found = await connections.list_all(rt.store, strategy=q.get("strategy"), name=q.get("name"))
    return _json(paging.page(found, q, "connections"))


@endpoint("create:connections")
async def create_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await connections.create(rt.store, rt.policy, body), 201)


@endpoint("read:connections")
async def get_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await connections.get(rt.store, _path(request, "id")))


@endpoint("update:connections")
async def update_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await connections.update(rt.store, rt.policy, _path(request, "id"), body))


@endpoint("delete:connections")
async def delete_connection(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    await connections.delete(rt.store, _path(request, "id"))
    return Response(status_code=204)


@endpoint("read:client_grants")
async def list_client_grants(request: Request, rt: Runtime,
                             caller: VerifiedAccessToken) -> Response:
    q = request.query_params
    found = await client_grants.list_all(rt.store, rt.settings, client_id=q.get("client_id"),
                                         audience=q.get("audience"))
    return _json(paging.page(found, q, "client_grants"))


@endpoint("create:client_grants")
async def create_client_grant(request: Request, rt: Runtime,
                              caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await client_grants.create(rt.store, rt.settings, body), 201)


@endpoint("read:client_grants")
async def get_client_grant(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await client_grants.get(rt.store, _path(request, "id")))


@endpoint("update:client_grants")
async def update_client_grant(request: Request, rt: Runtime,
                              caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await client_grants.update(rt.store, _path(request, "id"), body))


@endpoint("delete:client_grants")
async def delete_client_grant(request: Request, rt: Runtime,
                              caller: VerifiedAccessToken) -> Response:
    await client_grants.delete(rt.store, _path(request, "id"))
    return Response(status_code=204)


routes = [
    Route("/api/v2/users/{id}", get_user, methods=["GET"]),
    Route("/api/v2/clients", list_clients, methods=["GET"]),
    Route("/api/v2/clients", create_client, methods=["POST"]),
    Route("/api/v2/clients/{id}", get_client, methods=["GET"]),
    Route("/api/v2/clients/{id}", update_client, methods=["PATCH"]),
    Route("/api/v2/clients/{id}", delete_client, methods=["DELETE"]),
    Route("/api/v2/clients/{id}/rotate-secret", rotate_client_secret, methods=["POST"]),
    Route("/api/v2/connections", list_connections, methods=["GET"]),
    Route("/api/v2/connections", create_connection, methods=["POST"]),
    Route("/api/v2/connections/{id}", get_connection, methods=["GET"]),
    Route("/api/v2/connections/{id}", update_connection, methods=["PATCH"]),
    Route("/api/v2/connections/{id}", delete_connection, methods=["DELETE"]),
    Route("/api/v2/client-grants", list_client_grants, methods=["GET"]),
    Route("/api/v2/client-grants", create_client_grant, methods=["POST"]),
    Route("/api/v2/client-grants/{id}", get_client_grant, methods=["GET"]),
    Route("/api/v2/client-grants/{id}", update_client_grant, methods=["PATCH"]),
    Route("/api/v2/client-grants/{id}", delete_client_grant, methods=["DELETE"]),
]
