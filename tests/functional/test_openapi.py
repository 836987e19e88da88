"""The OpenAPI document at /api/v2/openapi.json and the reference page at /api/v2/docs.

The document must be valid OpenAPI 3.1 (checked with openapi-spec-validator), list every
declared operation with its path parameters, scopes and body, and promise only what the
server does: every operation is called here without a token and with a token lacking its
scopes, and the refusal must match the documented response (status, required headers, body
schema). Schemathesis covers the rest (test_schemathesis.py)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from idbroker.http import openapi, reference_page
from idbroker.http.app import create_app  # noqa: F401  (registers every operation)
from idbroker.http.operations import OPERATIONS
from tests.support import ISSUER, Broker

METHODS = ("get", "post", "put", "patch", "delete")


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS]


def body_validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; "#/components/..." resolves against this
    # root because the document's components ride along (unknown keywords are ignored).
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def concrete(path: str) -> str:
    return re.sub(r"{\w+}", "no-such-thing", path)


@pytest.fixture
async def doc(broker: Broker) -> dict[str, Any]:
    response = await broker.http.get("/api/v2/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises OpenAPIValidationError with the offending path
    assert doc["servers"] == [{"url": ISSUER.rstrip("/"), "description": "This idbroker"}]


async def test_every_declared_operation_is_documented_once(doc: dict[str, Any]) -> None:
    listed = {(method.upper(), path) for path, method, _ in operations(doc)}
    declared = {(op.method.upper(), re.sub(r"{(\w+)(?::\w+)?}", r"{\1}", op.path))
                for op in OPERATIONS}
    assert listed == declared
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


async def test_parameters_bodies_and_scopes_match_the_declarations(doc: dict[str, Any]) -> None:
    for op in OPERATIONS:
        entry = doc["paths"][re.sub(r"{(\w+)(?::\w+)?}", r"{\1}", op.path)][op.method.lower()]
        path_params = [p["name"] for p in entry["parameters"] if p["in"] == "path"]
        assert path_params == re.findall(r"{(\w+)", op.path), op.path
        assert all(p["required"] for p in entry["parameters"] if p["in"] == "path")
        assert [p["name"] for p in entry["parameters"] if p["in"] == "query"] \
            == [q.name for q in op.query]
        assert ("requestBody" in entry) == (op.body is not None), op.path
        if op.body is not None:
            assert entry["requestBody"]["required"] is True
            assert list(entry["requestBody"]["content"]) == ["application/json"]
        # "any of" the scopes: one security requirement per scope.
        assert entry["security"] == [{"managementApi": [s]} for s in op.scopes] \
            or (not op.scopes and entry["security"] == [{"managementApi": []}])
        success = entry["responses"][str(op.status)]
        if op.status == 204:
            assert "content" not in success
        else:
            assert list(success.get("content", {})) == (["application/json"]
                                                        if op.response is not None else [])
    flows = doc["components"]["securitySchemes"]["managementApi"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == f"{ISSUER}oauth/token"
    used = {s for op in OPERATIONS for s in op.scopes}
    assert used <= set(flows["clientCredentials"]["scopes"])


async def test_every_operation_refuses_a_missing_token_as_documented(
        broker: Broker, doc: dict[str, Any]) -> None:
    for path, method, entry in operations(doc):
        documented = entry["responses"]["401"]
        kwargs: dict[str, Any] = {"json": {}} if "requestBody" in entry else {}
        response = await broker.http.request(method.upper(), concrete(path), **kwargs)
        assert response.status_code == 401, (method, path, response.text)
        for name, header in documented["headers"].items():
            assert not header["required"] or name in response.headers, (method, path, name)
        assert response.headers["www-authenticate"].startswith("Bearer ")
        schema = documented["content"]["application/json"]["schema"]
        body_validator(doc, schema).validate(response.json())


async def test_every_scoped_operation_refuses_a_token_without_its_scope(
        broker: Broker, doc: dict[str, Any]) -> None:
    token = await broker.mgmt_token(["read:client_keys"])  # a scope no operation accepts
    for path, method, entry in operations(doc):
        scopes = [s for req in entry["security"] for s in next(iter(req.values()))]
        assert "read:client_keys" not in scopes, "pick another unrelated scope"
        kwargs: dict[str, Any] = {"json": {}} if "requestBody" in entry else {}
        response = await broker.http.request(
            method.upper(), concrete(path), headers={"Authorization": f"Bearer {token}"},
            **kwargs)
        assert response.status_code == 403, (method, path, response.text)
        documented = entry["responses"]["403"]
        assert "WWW-Authenticate" in documented["headers"]
        assert response.headers["www-authenticate"].startswith("Bearer ")
        body = response.json()
        body_validator(doc, documented["content"]["application/json"]["schema"]).validate(body)
        assert body["errorCode"] == "insufficient_scope"
        assert body["message"] == "Insufficient scope, expected any of: " + ",".join(scopes)


async def test_a_204_answer_has_no_body(broker: Broker, doc: dict[str, Any]) -> None:
    created = await broker.mgmt("POST", "clients", json={"name": "short-lived"})
    assert created.status_code == 201
    assert "content" not in doc["paths"]["/api/v2/clients/{id}"]["delete"]["responses"]["204"]
    deleted = await broker.mgmt("DELETE", f"clients/{created.json()['client_id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-type" not in deleted.headers


# --- the reference page ---------------------------------------------------------------------


async def test_the_reference_page_lists_every_operation(broker: Broker,
                                                        doc: dict[str, Any]) -> None:
    page = await broker.http.get("/api/v2/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self'
    html = page.text
    for path, method, entry in operations(doc):
        assert f"id='op-{entry['operationId']}'" in html
        assert f"<code>{path}</code>" in html
    for name in doc["components"]["schemas"]:
        assert f"id='schema-{name}'" in html
    # Self-contained: nothing is loaded from elsewhere, and there is no script at all.
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", html)
    assert "/api/v2/openapi.json" in html


def test_the_reference_page_escapes_everything_from_the_document() -> None:
    evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
    doc = openapi.document("https://idbroker.example.test")
    doc["info"]["title"] = evil
    doc["servers"] = [{"url": evil}]
    item = doc["paths"].pop(next(iter(doc["paths"])))
    op = next(iter(item.values()))
    op["summary"] = evil
    op["operationId"] = evil
    op["tags"] = [evil]
    op["parameters"] = [{"name": evil, "in": "query", "description": evil,
                         "schema": {"type": evil, "enum": [evil], "default": evil}}]
    doc["paths"][f"/api/v2/{evil}"] = {"get": op}
    doc["components"]["schemas"][evil] = {
        "type": "object", "required": [evil],
        "properties": {evil: {"$ref": f"#/components/schemas/{evil}", "description": evil}}}
    html = reference_page.render(doc)
    assert "<script" not in html and "<img" not in html
    assert "onerror=alert(2)>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Anchors are reduced to a safe alphabet, so no attribute can be closed early.
    for anchor in re.findall(r"id='([^']*)'", html):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", anchor), anchor
