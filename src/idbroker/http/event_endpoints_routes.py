"""Management API operations on webhook endpoints (docs/events.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.http.errors import NO_STORE
from idbroker.http.operations import operation
from idbroker.http.requests import read_json
from idbroker.management import event_endpoints, schemas
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

BASE = "/api/v2/event-endpoints"


def _json(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def _id(request: Request) -> str:
    return str(request.path_params["id"])


@operation("GET", BASE, scopes=("read:event_endpoints",), tag="event-endpoints",
           summary="List webhook endpoints", response=list[schemas.EventEndpointOut])
async def list_endpoints(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await event_endpoints.list_all(rt.store))


@operation("POST", BASE, scopes=("create:event_endpoints",), tag="event-endpoints",
           summary="Create a webhook endpoint (its signing secret is in this response only)",
           body=event_endpoints.EndpointCreate, response=schemas.EventEndpointOut, status=201)
async def create_endpoint(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await event_endpoints.create(rt.store, rt.settings, body), 201)


@operation("GET", BASE + "/{id}", scopes=("read:event_endpoints",), tag="event-endpoints",
           summary="Get a webhook endpoint", response=schemas.EventEndpointOut)
async def get_endpoint(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await event_endpoints.get(rt.store, _id(request)))


@operation("PATCH", BASE + "/{id}", scopes=("update:event_endpoints",), tag="event-endpoints",
           summary="Update a webhook endpoint's url, events or enabled flag",
           body=event_endpoints.EndpointChanges, response=schemas.EventEndpointOut)
async def update_endpoint(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return _json(await event_endpoints.update(rt.store, rt.settings, _id(request), body))


@operation("POST", BASE + "/{id}/rotate-secret", scopes=("update:event_endpoints",),
           tag="event-endpoints", summary="Replace the signing secret (shown in this response only)",
           response=schemas.EventEndpointOut)
async def rotate_secret(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await event_endpoints.rotate_secret(rt.store, _id(request)))


@operation("DELETE", BASE + "/{id}", scopes=("delete:event_endpoints",), tag="event-endpoints",
           summary="Delete a webhook endpoint and its pending deliveries", status=204)
async def delete_endpoint(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    await event_endpoints.delete(rt.store, _id(request))
    return Response(status_code=204)


@operation("GET", BASE + "/{id}/deliveries", scopes=("read:event_endpoints",),
           tag="event-endpoints", summary="Delivery attempts to a webhook endpoint",
           response=list[schemas.EventDeliveryOut])
async def list_deliveries(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await event_endpoints.deliveries(rt.store, _id(request)))
