"""The OpenAPI 3.1 document of the Management API, built from the declared operations and the
same pydantic models that validate request bodies."""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from idbroker import __version__
from idbroker.http.operations import OPERATIONS, Operation
from idbroker.management.schemas import ErrorOut

_REF = "#/components/schemas/{model}"


def _schema(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(kind).json_schema(ref_template=_REF, mode="serialization")
    components.update(schema.pop("$defs", {}))
    return schema


def _body_schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(ref_template=_REF, mode="validation")
    components.update(schema.pop("$defs", {}))
    return schema


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": _REF.format(model="ErrorOut")}}}}


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{(\w+)}", op.path)]
    params += [{"name": q.name, "in": "query", "required": False, "schema": q.schema,
                **({"description": q.description} if q.description else {})} for q in op.query]
    success: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": _schema(op.response, components)}}
    entry: dict[str, Any] = {
        "summary": op.summary, "tags": [op.tag], "operationId": op.handler.__name__,
        "parameters": params,
        "security": [{"bearer": list(op.scopes)}],
        "responses": {str(op.status): success, "400": _error("Invalid request"),
                      "401": _error("Missing or invalid token"),
                      "403": _error("Insufficient scope"), "404": _error("Not found"),
                      "409": _error("Conflict"), "429": _error("Too many requests")},
    }
    if op.body is not None:
        entry["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _body_schema(op.body, components)}}}
    return entry


def document(server_url: str) -> dict[str, Any]:
    components: dict[str, Any] = {}
    _, defs = models_json_schema([(ErrorOut, "serialization")], ref_template=_REF)
    components.update(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "idbroker Management API", "version": __version__,
                 "description": "Auth0-compatible Management API of idbroker."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


async def openapi_endpoint(request: Request) -> Response:
    issuer = request.app.state.runtime.settings.issuer
    return JSONResponse(document(issuer.rstrip("/")), headers={"Cache-Control": "no-cache"})


async def reference_page(request: Request) -> Response:
    doc = document(request.app.state.runtime.settings.issuer.rstrip("/"))
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{path}</code></td>"
        f"<td>{op['summary']}</td><td><code>{' '.join(op['security'][0]['bearer'])}</code></td></tr>"
        for path, methods in doc["paths"].items() for method, op in methods.items())
    html = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>idbroker "
            "Management API</title><style>body{font-family:system-ui,sans-serif;margin:2rem}"
            "td{padding:.3rem .8rem;border-bottom:1px solid #ddd}</style></head><body>"
            "<h1>idbroker Management API</h1><p>Machine-readable: "
            "<a href='/api/v2/openapi.json'>/api/v2/openapi.json</a> (OpenAPI 3.1)</p>"
            "<table><tr><th>Method</th><th>Path</th><th>What</th><th>Scopes (any of)</th></tr>"
            f"{rows}</table></body></html>")
    return HTMLResponse(html)


routes = [
    Route("/api/v2/openapi.json", openapi_endpoint, methods=["GET"]),
    Route("/api/v2/docs", reference_page, methods=["GET"]),
]
