"""Auth0's three list shapes, chosen by the query the caller sends:

- checkpoint (``from`` / ``take``, what auth0-python v6 sends for connections and client
  grants): ``{"<name>": [...], "next": "<cursor>"}``, ``next`` absent on the last page;
- offset with totals (``include_totals=true``, v6's default for clients):
  ``{"<name>": [...], "start", "limit", "total"}``;
- a bare array otherwise (Auth0's historical default, what v4 code expects).

The lists paged here (clients, connections, grants) are configuration, small enough to page in
memory; users are paged in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idbroker.errors import BadRequest

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:  # "³".isdigit()
        raise BadRequest(f"{name} must be an integer from {low} to {high}",
                         error_code="invalid_query_string")
    return int(raw)


def page(items: list[dict[str, Any]], params: Mapping[str, str], name: str) -> Any:
    if "take" in params or "from" in params:
        take = _int(params, "take", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        start = _int(params, "from", 0, 0, 10**9)
        chunk = items[start:start + take]
        body: dict[str, Any] = {name: chunk}
        if start + take < len(items):
            body["next"] = str(start + take)
        return body
    per_page = _int(params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    number = _int(params, "page", 0, 0, 10**6)
    paged = "page" in params or "per_page" in params
    chunk = items[number * per_page:(number + 1) * per_page] if paged else items
    include_totals = params.get("include_totals", "false").lower()
    if include_totals not in ("true", "false"):
        raise BadRequest("include_totals must be true or false", error_code="invalid_query_string")
    if include_totals == "true":
        return {name: chunk, "start": number * per_page, "limit": per_page, "total": len(items)}
    return chunk
