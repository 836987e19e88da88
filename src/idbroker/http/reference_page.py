"""The browsable reference of the Management API: one self-contained HTML page rendered on the
server from the OpenAPI document (no script, no CDN asset; the CSP allows inline styles only).

Everything taken from the document is escaped, including what came from models and summaries,
because a summary or a schema title is just text to this page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

_REF_PREFIX = "#/components/schemas/"
_METHOD_ORDER = ("get", "post", "put", "patch", "delete")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;line-height:1.45}
header{background:#1d2330;color:#fff;padding:1.2rem 2rem}header a{color:#9cd0ff}
main{display:grid;grid-template-columns:17rem 1fr;gap:2rem;padding:1rem 2rem}
nav{position:sticky;top:0;align-self:start;max-height:100vh;overflow:auto;font-size:.9rem}
nav ul{list-style:none;padding-left:.6rem;margin:.2rem 0 .8rem}nav a{text-decoration:none}
h2{border-bottom:2px solid #e3e6ec;padding-bottom:.2rem;margin-top:2rem}
section.op{border:1px solid #e3e6ec;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.2rem;text-align:center;font-weight:700;color:#fff;
border-radius:4px;padding:.05rem .3rem;margin-right:.4rem;font-size:.8rem}
.get{background:#2f7d32}.post{background:#1565c0}.patch{background:#8e6b00}
.put{background:#6a1b9a}.delete{background:#b71c1c}
table{border-collapse:collapse;margin:.3rem 0 .8rem;font-size:.9rem}
th,td{text-align:left;padding:.25rem .7rem;border-bottom:1px solid #e3e6ec;vertical-align:top}
code{background:#f3f4f7;padding:0 .2rem;border-radius:3px}.req{color:#b71c1c}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _anchor(prefix: str, name: str) -> str:
    return prefix + "-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _schema_link(ref: str) -> str:
    name = ref.removeprefix(_REF_PREFIX)
    return f"<a href='#{_anchor('schema', name)}'><code>{_e(name)}</code></a>"


def type_html(schema: Any) -> str:
    """A compact, linked rendering of a JSON Schema (enough for the models pydantic emits)."""
    if not isinstance(schema, dict):
        return "<code>any</code>"
    if "$ref" in schema:
        return _schema_link(str(schema["$ref"]))
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            joiner = " &amp; " if combinator == "allOf" else " | "
            return joiner.join(type_html(part) for part in schema[combinator])
    if "const" in schema:
        return f"<code>{_e(repr(schema['const']))}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{_e(value)}</code>" for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {type_html(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_html(schema['additionalProperties'])}"
    if isinstance(kind, list):
        return " | ".join(f"<code>{_e(k)}</code>" for k in kind)
    return f"<code>{_e(kind or 'any')}</code>"


def _constraints(schema: dict[str, Any]) -> str:
    keys = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern",
            "format", "default")
    found = [f"{key}: <code>{_e(schema[key])}</code>" for key in keys if key in schema]
    text = [_e(schema["description"])] if schema.get("description") else []
    return "; ".join(text + found)


def _properties(schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    if not props:
        return f"<p>{type_html(schema)}</p>"
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{_e(name)}</code>"
        f"{' <span class=req>required</span>' if name in required else ''}</td>"
        f"<td>{type_html(prop)}</td><td>{_constraints(prop)}</td></tr>"
        for name, prop in props.items())
    extra = schema.get("additionalProperties")
    note = "" if extra is False else "<p>Other properties are allowed.</p>"
    return (f"<table><tr><th>Field</th><th>Type</th><th>Notes</th></tr>{rows}</table>{note}")


def _parameters(params: list[dict[str, Any]]) -> str:
    if not params:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(p['name'])}</code>"
        f"{' <span class=req>required</span>' if p.get('required') else ''}</td>"
        f"<td>{_e(p['in'])}</td><td>{type_html(p.get('schema'))}</td>"
        f"<td>{_constraints({**p.get('schema', {}), 'description': p.get('description')})}"
        f"</td></tr>" for p in params)
    return ("<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th>"
            f"<th>Notes</th></tr>{rows}</table>")


def _responses(responses: dict[str, Any]) -> str:
    rows = []
    for status, response in responses.items():
        body = response.get("content", {}).get("application/json", {}).get("schema")
        headers = ", ".join(f"<code>{_e(name)}</code>" for name in response.get("headers", {}))
        rows.append(f"<tr><td>{_e(status)}</td><td>{_e(response.get('description', ''))}</td>"
                    f"<td>{type_html(body) if body else 'no body'}</td><td>{headers}</td></tr>")
    return ("<h4>Responses</h4><table><tr><th>Status</th><th>Meaning</th><th>Body</th>"
            f"<th>Headers</th></tr>{''.join(rows)}</table>")


def _scopes(op: dict[str, Any]) -> str:
    scopes = [scope for requirement in op.get("security", []) for scopes in requirement.values()
              for scope in scopes]
    if not scopes:
        return "<p>Any Management API token.</p>"
    return "<p>Scopes (any of): " + ", ".join(f"<code>{_e(s)}</code>" for s in scopes) + "</p>"


def _operations(doc: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for path, methods in doc.get("paths", {}).items():
        for method in sorted(methods, key=lambda m: _METHOD_ORDER.index(m)
                             if m in _METHOD_ORDER else len(_METHOD_ORDER)):
            yield path, method, methods[method]


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    request = f"<h4>Request body</h4>{_body(body['schema'])}" if "schema" in body else ""
    return (f"<section class=op id='{_anchor('op', op['operationId'])}'>"
            f"<h3><span class='m {_e(method)}'>{_e(method.upper())}</span>"
            f"<code>{_e(path)}</code></h3><p>{_e(op.get('summary', ''))}</p>{_scopes(op)}"
            f"{_parameters(op.get('parameters', []))}{request}"
            f"{_responses(op.get('responses', {}))}</section>")


def _body(schema: dict[str, Any]) -> str:
    return f"<p>{type_html(schema)}</p>" if "$ref" in schema else _properties(schema)


def render(doc: dict[str, Any]) -> str:
    info = doc.get("info", {})
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, method, op in _operations(doc):
        by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((path, method, op))
    schemas = doc.get("components", {}).get("schemas", {})
    flows = doc.get("components", {}).get("securitySchemes", {})
    token_url = next((flow.get("tokenUrl") for scheme in flows.values()
                      for flow in scheme.get("flows", {}).values()), None)
    scope_names = sorted({scope for scheme in flows.values()
                          for flow in scheme.get("flows", {}).values()
                          for scope in flow.get("scopes", {})})

    nav = "".join(
        f"<li><b>{_e(tag)}</b><ul>" + "".join(
            f"<li><a href='#{_anchor('op', op['operationId'])}'>{_e(method.upper())} "
            f"{_e(path.removeprefix('/api/v2'))}</a></li>" for path, method, op in ops)
        + "</ul></li>" for tag, ops in by_tag.items())
    nav += "<li><a href='#schemas'><b>Schemas</b></a></li>"
    sections = "".join(
        f"<h2 id='{_anchor('tag', tag)}'>{_e(tag)}</h2>"
        + "".join(_operation(path, method, op) for path, method, op in ops)
        for tag, ops in by_tag.items())
    models = "".join(
        f"<section id='{_anchor('schema', name)}'><h3>{_e(name)}</h3>{_properties(schema)}"
        "</section>" for name, schema in schemas.items())
    servers = ", ".join(f"<code>{_e(s.get('url', ''))}</code>" for s in doc.get("servers", []))
    auth = (f"<p>Get a token from <code>{_e(token_url)}</code> with "
            "<code>grant_type=client_credentials</code>; send it as "
            "<code>Authorization: Bearer &lt;token&gt;</code>. Scopes: "
            + ", ".join(f"<code>{_e(s)}</code>" for s in scope_names) + ".</p>"
            if token_url else "")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{_e(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{_e(info.get('title', 'API'))} <small>{_e(info.get('version', ''))}"
        f"</small></h1><p>{_e(info.get('description', ''))}</p><p>Server: {servers}. "
        "Machine-readable: <a href='/api/v2/openapi.json'>/api/v2/openapi.json</a> "
        f"(OpenAPI {_e(doc.get('openapi', ''))}).</p></header>"
        f"<main><nav><ul>{nav}</ul></nav><div><h2>Authentication</h2>{auth}{sections}"
        f"<h2 id='schemas'>Schemas</h2>{models}</div></main></body></html>")
