"""The Management API's users and identities operations (docs/users.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idbroker.http.management_routes import json_response, path_param
from idbroker.http.operations import FIELDS, QueryParam, operation
from idbroker.http.requests import client_ip, read_json
from idbroker.management import linking, schemas, user_admin, users
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

LINK_SCOPES = (linking.UPDATE_USERS, linking.CURRENT_USER_IDENTITIES)
SEARCH = (
    QueryParam("page", {"type": "integer", "minimum": 0, "maximum": users.MAX_PAGE}),
    QueryParam("per_page", {"type": "integer", "minimum": 1, "maximum": users.MAX_PER_PAGE}),
    QueryParam("include_totals", {"type": "boolean"},
               "an object {start, limit, length, total, users} instead of a bare array"),
    QueryParam("sort", {"type": "string"}, "field:1 or field:-1 (docs/users.md)"),
    QueryParam("q", {"type": "string", "maxLength": 2048},
               "Lucene-style user search query (the subset in docs/users.md)"),
    QueryParam("search_engine", {"type": "string", "enum": ["v2", "v3"]}),
    QueryParam("connection", {"type": "string"}, "only users with an identity of it"),
    *FIELDS,
)


@operation("GET", "/api/v2/users", scopes=("read:users",), tag="users",
           summary="List or search users (never with IdP tokens)",
           response=list[schemas.UserOut] | schemas.UsersPage, query=SEARCH)
async def list_users(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return json_response(await users.list_users(rt, caller, dict(request.query_params)))


@operation("POST", "/api/v2/users", scopes=("create:users",), tag="users",
           summary="Create a user for an account of an existing connection",
           body=user_admin.UserCreate, response=schemas.UserOut, status=201)
async def create_user(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await user_admin.create(rt, body), 201)


@operation("GET", "/api/v2/users-by-email", scopes=("read:users",), tag="users",
           summary="Users with this email, case-insensitively (never with IdP tokens)",
           response=list[schemas.UserOut],
           query=(QueryParam("email", {"type": "string", "maxLength": 320}), *FIELDS))
async def users_by_email(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return json_response(await users.users_by_email(rt, caller, dict(request.query_params)))


GET_USER_SUMMARY = "Get a user; identities carry IdP tokens only with read:user_idp_tokens"


@operation("GET", "/api/v2/users/{id}", scopes=("read:users",), tag="users",
           summary=GET_USER_SUMMARY,
           response=schemas.UserOut, query=FIELDS)
async def get_user(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    q = request.query_params
    body = await users.get_user(rt, caller, path_param(request), fields=q.get("fields"),
                                include_fields=q.get("include_fields"), ip=client_ip(request))
    return json_response(body)


@operation("PATCH", "/api/v2/users/{id}", scopes=("update:users",), tag="users",
           summary="Update a user (metadata merged one level deep; null deletes a key)",
           body=user_admin.UserChanges, response=schemas.UserOut)
async def update_user(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await user_admin.update(rt, path_param(request), body))


@operation("DELETE", "/api/v2/users/{id}", scopes=("delete:users",), tag="users",
           summary="Delete a user; its IdP tokens are revoked upstream", status=204)
async def delete_user(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    await user_admin.delete(rt, caller, path_param(request), client_ip(request))
    return Response(status_code=204)


@operation("POST", "/api/v2/users/{id}/identities", scopes=LINK_SCOPES, tag="users",
           summary="Link another user's identity to this user (idempotent)",
           body=linking.LinkBody, response=list[schemas.IdentityOut], status=201)
async def link_identity(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    body = await read_json(request, rt.settings.max_body_bytes)
    return json_response(await linking.link(rt, caller, path_param(request), body), 201)


@operation("DELETE", "/api/v2/users/{id}/identities/{provider}/{user_id}", scopes=LINK_SCOPES,
           tag="users", summary="Unlink an identity; it becomes a user of its own again",
           response=list[schemas.IdentityOut])
async def unlink_identity(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    remaining = await linking.unlink(rt, caller, path_param(request),
                                     path_param(request, "provider"),
                                     path_param(request, "user_id"))
    return json_response(remaining)
