"""/api/v2/logs and /api/v2/users/{id}/logs: the audit log in Auth0's log event shape, and
the ``sapi``/``fapi`` records of Management API calls.

What goes into a record is chosen here and in the few places that call ``store.audit``:
identifiers, public error descriptions, HTTP method and path, never a request body, a query
string, a header, a token or a secret — so nothing read back from the log can leak one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from idbroker.clock import iso_ms
from idbroker.errors import BadRequest, IdbrokerError, ManagementError, NotFound
from idbroker.management.paging import MAX_PER_PAGE
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime
from idbroker.vault import log_queries
from idbroker.vault.log_queries import LogFilter

log = logging.getLogger(__name__)

DEFAULT_PER_PAGE = 50
# Auth0 serves at most the first 1000 entries of a search by offset; past that, use from/take.
MAX_OFFSET_ENTRIES = 1000
MAX_Q_CHARS = 1000
_TERM = re.compile(r'\s*(?:(AND)\b|([a-z_]+):("(?:[^"\\]|\\.)*"|[\[{][^\]}]*[\]}]|[^\s"]+))\s*')
_RANGE = re.compile(r"^([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])$")
_FIELDS = ("type", "user_id", "client_id", "connection", "ip", "date")


# --- recording Management API calls ---------------------------------------------------------


async def record_call(rt: Runtime, method: str, path: str, summary: str,
                      caller: VerifiedAccessToken | None, *, status: int | None = None,
                      error: IdbrokerError | None = None, ip: str | None) -> None:
    """sapi for a successful write; fapi for a failed write and for any failed
    authentication or authorisation. Reads are not recorded (IdP token reads are, as
    ``mgmt_api_read``, by management/users.py)."""
    if error is not None:
        code = error.status_code if isinstance(error, ManagementError) else 400
        if method == "GET" and code not in (401, 403):
            return
        kind, description = "fapi", error.description
        response: dict[str, Any] = {"statusCode": code}
        if isinstance(error, ManagementError) and error.error_code:
            response["errorCode"] = error.error_code
    elif method != "GET":
        kind, description, response = "sapi", summary, {"statusCode": status}
    else:
        return
    client_id = caller.claims.get("azp") if caller is not None else None
    try:
        await rt.store.audit(kind, description=description[:500],
                             client_id=client_id if isinstance(client_id, str) else None, ip=ip,
                             details={"request": {"method": method, "path": path[:1000]},
                                      "response": response})
    except Exception as exc:  # noqa: BLE001 — a lost log line must not fail the call itself
        log.warning("could not record %s: %s", kind, type(exc).__name__)


# --- reading --------------------------------------------------------------------------------


def render(row: Mapping[str, Any]) -> dict[str, Any]:
    body = {"log_id": row["id"], "date": iso_ms(row["date"]), "type": row["type"],
            "description": row["description"], "client_id": row["client_id"],
            "user_id": row["user_id"], "connection": row["connection"], "ip": row["ip"],
            "details": row["details"] or {}}
    return {k: v for k, v in body.items() if v is not None}


def _instant(value: str, *, end: bool) -> int | None:
    if value == "*":
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"invalid date in q: {value[:40]}", error_code="invalid_query_string") \
            from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    if end and len(value) == 10:
        # A bare day as the upper bound means "through the end of that day".
        stamp += timedelta(days=1) - timedelta(milliseconds=1)
    return int(stamp.timestamp() * 1000)


def parse_q(q: str | None) -> LogFilter:
    """The supported subset of Auth0's log search: ``field:value`` terms joined by spaces or
    AND, values plain or quoted, and ``date:[from TO to]`` (``*`` open, ``{}`` exclusive)."""
    terms: dict[str, Any] = {}
    if not q:
        return LogFilter()
    if len(q) > MAX_Q_CHARS:
        raise BadRequest("q is too long", error_code="invalid_query_string")
    position = 0
    while position < len(q):
        match = _TERM.match(q, position)
        if match is None or match.end() == position:
            raise BadRequest("q is not a supported query; see docs/logs.md",
                             error_code="invalid_query_string")
        position = match.end()
        if match.group(1):
            continue
        name, value = match.group(2), match.group(3)
        if name not in _FIELDS or name in terms:
            raise BadRequest(f"q: unsupported or repeated field {name[:40]}",
                             error_code="invalid_query_string")
        if name == "date":
            terms.update(_date_range(value))
            terms[name] = True
            continue
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        terms[name] = value
    terms.pop("date", None)
    return LogFilter(**terms)


def _date_range(value: str) -> dict[str, int | None]:
    match = _RANGE.match(value)
    if match is None:
        raise BadRequest("q: date needs a range such as date:[2026-01-01 TO *]",
                         error_code="invalid_query_string")
    low = _instant(match.group(2), end=False)
    high = _instant(match.group(3), end=True)
    if low is not None and match.group(1) == "{":
        low += 1
    if high is not None and match.group(4) == "}":
        high -= 1
    return {"date_from": low, "date_to": high}


def parse_fields(fields: str | None, include_fields: str | None) -> tuple[set[str] | None, bool]:
    if include_fields not in (None, "true", "false"):
        raise BadRequest("include_fields must be true or false", error_code="invalid_query_string")
    names = {f.strip() for f in (fields or "").split(",") if f.strip()}
    if len(names) > 50:
        raise BadRequest("too many fields", error_code="invalid_query_string")
    return (names or None), include_fields != "false"


def _int(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > high:
        raise BadRequest(f"{name} must be an integer from 0 to {high}",
                         error_code="invalid_query_string")
    return int(raw)


def _ascending(sort: str | None) -> bool:
    if sort in (None, "", "date:-1"):
        return False
    if sort == "date:1":
        return True
    raise BadRequest("sort must be date:1 or date:-1", error_code="invalid_query_string")


async def search(rt: Runtime, params: Mapping[str, str],
                 user_id: str | None = None) -> Any:
    where = parse_q(params.get("q"))
    if user_id is not None:
        where = LogFilter(**{**where.__dict__, "user_id": user_id})
    selected, include = parse_fields(params.get("fields"), params.get("include_fields"))

    def shape(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items = [render(r) for r in rows]
        if selected is None:
            return items
        return [{k: v for k, v in item.items() if (k in selected) == include} for item in items]

    if "from" in params or "take" in params:
        take = _int(params, "take", DEFAULT_PER_PAGE, MAX_PER_PAGE) or 1
        checkpoint = params.get("from")
        if checkpoint:
            rows = await log_queries.after(rt.store, where, checkpoint, take)
            if rows is None:
                raise BadRequest("from is not a known log_id", error_code="invalid_query_string")
        else:
            rows = await log_queries.page(rt.store, where, offset=0, limit=take, ascending=False)
        return shape(rows)
    per_page = _int(params, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE) or 1
    number = _int(params, "page", 0, 10**6)
    if (number + 1) * per_page > MAX_OFFSET_ENTRIES:
        raise BadRequest(f"page and per_page reach past the first {MAX_OFFSET_ENTRIES} entries; "
                         "use from/take", error_code="invalid_query_string")
    rows = await log_queries.page(rt.store, where, offset=number * per_page, limit=per_page,
                                  ascending=_ascending(params.get("sort")))
    totals = params.get("include_totals", "false").lower()
    if totals not in ("true", "false"):
        raise BadRequest("include_totals must be true or false", error_code="invalid_query_string")
    if totals == "true":
        items = shape(rows)
        return {"start": number * per_page, "limit": per_page, "length": len(items),
                "total": await log_queries.count(rt.store, where), "logs": items}
    return shape(rows)


async def get(rt: Runtime, log_id: str) -> dict[str, Any]:
    row = await log_queries.get(rt.store, log_id)
    if row is None:
        raise NotFound("The log event does not exist", error_code="inexistent_log")
    return render(row)
