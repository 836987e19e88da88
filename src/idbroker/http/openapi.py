"""The OpenAPI 3.1 document of the Management API, built from the declared operations and the
same pydantic models that validate request bodies, and the routes that serve it.

Every operation declared with ``@operation`` appears here without further work: path and query
parameters, the request body (validation schema of its model), the success response
(serialization schema of its response type) and the error responses the shared machinery can
produce for it (see ``_errors``). Schemathesis checks the running app against this document
(tests/functional/test_schemathesis.py), so what it promises is what the server does.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from idbroker import __version__
from idbroker.http import reference_page
from idbroker.http.operations import OPERATIONS, Operation
from idbroker.management.schemas import ErrorOut
from idbroker.oauth.scopes import MANAGEMENT_SCOPES

_REF = "#/components/schemas/{model}"
# Starlette path templates may carry a converter ("{id:path}"); OpenAPI names only the variable.
_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
SECURITY_SCHEME = "managementApi"

_RATE_HEADERS = {
    "X-RateLimit-Limit": ("integer", "Requests allowed in the current window."),
    "X-RateLimit-Remaining": ("integer", "Requests left in the current window."),
    "X-RateLimit-Reset": ("integer", "When the window resets, in Unix epoch seconds."),
}

_PATH_PARAM_TEXT = {
    "id": "The resource's id. User ids contain `|`: percent-encode it (`%7C`).",
    "provider": "The identity provider of the linked identity, e.g. `google-oauth2`.",
    "user_id": "The linked identity's id at its provider (without the provider prefix).",
    "kid": "The signing key's id (`kid`), as in the JWKS.",
}


def _openapi_path(path: str) -> str:
    return _PATH_PARAM.sub(r"{\1}", path)


def _header(kind: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": kind}}


def _rate_headers() -> dict[str, Any]:
    # Not `required`: they are absent when rate limiting is switched off (docs/rate-limits.md).
    return {name: _header(kind, text) for name, (kind, text) in _RATE_HEADERS.items()}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "headers": {**(headers or {}), **_rate_headers()},
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}}}


def _errors(op: Operation) -> dict[str, Any]:
    """The error responses the shared machinery can give this operation. 400: a malformed
    query, body or Authorization header (and a token in the query string) on any operation;
    401 with a Bearer challenge on any; 403 where a scope is checked; 404 where the path or
    the body names a resource; 409 where something is written; 429 when rate limited."""
    challenge = {"WWW-Authenticate": _header(
        "string", "Bearer challenge (RFC 6750 §3)", required=True)}
    errors: dict[str, Any] = {
        "400": _error("The request is malformed: bad query parameter, body or header "
                      "(`errorCode` says which)."),
        "401": _error("Missing, malformed, expired or otherwise invalid access token.",
                      challenge),
    }
    if op.scopes:
        errors["403"] = _error("The token lacks every scope this operation accepts "
                               "(`errorCode: insufficient_scope`).", challenge)
    if _PATH_PARAM.search(op.path) or op.body is not None:
        errors["404"] = _error("A resource named by the path or the body does not exist.")
    if op.method.upper() != "GET":
        errors["409"] = _error("The change conflicts with the current state.")
    errors["429"] = _error("Too many requests: wait until `X-RateLimit-Reset`.", {
        "Retry-After": _header("integer", "Seconds to wait before retrying.", required=True)})
    return errors


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "description": _PATH_PARAM_TEXT.get(name, f"The {name}."),
         "schema": {"type": "string", "minLength": 1}}
        for name in _PATH_PARAM.findall(op.path)]
    for q in op.query:
        param: dict[str, Any] = {"name": q.name, "in": "query", "required": False,
                                 "schema": q.schema}
        if q.description:
            param["description"] = q.description
        params.append(param)
    return params


class _Schemas:
    """Collects every model once so that pydantic names them consistently (a model used both
    as a body and in a response gets distinct -Input/-Output names only if they differ)."""

    def __init__(self) -> None:
        self.inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []

    def want(self, key: Any, kind: Any, mode: str) -> Any:
        self.inputs.append((key, mode, TypeAdapter(kind)))
        return (key, mode)

    def build(self) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
        found, defs = TypeAdapter.json_schemas(self.inputs, ref_template=_REF)
        return found, defs.get("$defs", {})


def _operation_ids() -> dict[int, str]:
    """handler names, made unique (two modules may both call a handler ``list_all``)."""
    seen: dict[str, int] = {}
    ids: dict[int, str] = {}
    for index, op in enumerate(OPERATIONS):
        name = op.handler.__name__
        seen[name] = seen.get(name, 0) + 1
        ids[index] = name if seen[name] == 1 else f"{name}_{seen[name]}"
    return ids


def _security(op: Operation) -> list[dict[str, list[str]]]:
    # Scopes are "any of": one security requirement per accepted scope (requirements in the
    # list are alternatives; scopes inside one requirement would all be required).
    if not op.scopes:
        return [{SECURITY_SCHEME: []}]
    return [{SECURITY_SCHEME: [scope]} for scope in op.scopes]


def _scope_text(scope: str) -> str:
    action, _, resource = scope.partition(":")
    return f"{action.capitalize()} {resource.replace('_', ' ')}"


def document(server_url: str) -> dict[str, Any]:
    """The whole document for a server whose public base URL is ``server_url`` (no trailing
    slash; the paths carry the /api/v2 prefix)."""
    schemas = _Schemas()
    error_key = schemas.want("error", ErrorOut, "serialization")
    pending: list[tuple[Operation, Any, Any]] = []
    for op in OPERATIONS:
        body = schemas.want((id(op), "body"), op.body, "validation") if op.body else None
        out = schemas.want((id(op), "out"), op.response, "serialization") \
            if op.response is not None else None
        pending.append((op, body, out))
    found, components = schemas.build()
    components.setdefault("ErrorOut", found[error_key])

    ids = _operation_ids()
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    scopes: dict[str, None] = dict.fromkeys(MANAGEMENT_SCOPES)
    for index, (op, body, out) in enumerate(pending):
        success: dict[str, Any] = {"description": "No content" if op.status == 204 else "OK",
                                   "headers": _rate_headers()}
        if out is not None and op.status != 204:
            success["content"] = {"application/json": {"schema": found[out]}}
        entry: dict[str, Any] = {
            "summary": op.summary, "tags": [op.tag], "operationId": ids[index],
            "parameters": _parameters(op), "security": _security(op),
            "responses": {str(op.status): success, **_errors(op)},
        }
        if body is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": found[body]}}}
        paths.setdefault(_openapi_path(op.path), {})[op.method.lower()] = entry
        tags[op.tag] = None
        scopes.update(dict.fromkeys(op.scopes))
    return {
        "openapi": "3.1.0",
        "info": {"title": "idbroker Management API", "version": __version__,
                 "description": "Auth0-compatible Management API of idbroker. Call it with a "
                                "client-credentials access token for the audience "
                                f"`{server_url}/api/v2/` (or `https://<domain>/api/v2/`) whose "
                                "client grant holds the scopes an operation lists.",
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "servers": [{"url": server_url, "description": "This idbroker"}],
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())), "securitySchemes": {
            SECURITY_SCHEME: {
                "type": "oauth2",
                "description": "A Bearer JWT from `POST /oauth/token` "
                               "(grant_type=client_credentials).",
                "flows": {"clientCredentials": {
                    "tokenUrl": f"{server_url}/oauth/token",
                    "scopes": {scope: _scope_text(scope) for scope in scopes}}}}}},
    }


def _server_url(request: Request) -> str:
    return str(request.app.state.runtime.settings.issuer).rstrip("/")


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(document(_server_url(request)), headers={"Cache-Control": "no-cache"})


async def reference_endpoint(request: Request) -> Response:
    # Its styles are inline (one self-contained page), so it has its own policy rather than
    # the hosted pages' style-src 'self'.
    return HTMLResponse(reference_page.render(document(_server_url(request))),
                        headers={"Cache-Control": "no-cache", "Content-Security-Policy":
                                 "default-src 'none'; style-src 'unsafe-inline'; "
                                 "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"})


routes = [
    Route("/api/v2/openapi.json", openapi_endpoint, methods=["GET"]),
    Route("/api/v2/docs", reference_endpoint, methods=["GET"]),
]
