"""Drives auth0-python 4.13.0's per-resource Management classes against a running idbroker.

Runs in its own process with ``PYTHONPATH=.venv/auth0-v4`` (v4 and v6 are both the ``auth0``
package and cannot share an environment). Reads ``{"domain", "token", "audience",
"upstream": {...}}`` as JSON on stdin, runs one scenario and prints one JSON object: what each
SDK call returned, or the ``Auth0Error`` it raised (status, error_code, message, and for a
RateLimitError its reset_at). test_management_v4.py asserts on it; nothing is asserted here.

v4's ``Auth0(domain, token)`` never forwards ``protocol``, so it always speaks https: the
per-resource classes with ``protocol="http"`` are what works against plain http (compat §7).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import auth0
from auth0.exceptions import Auth0Error, RateLimitError
from auth0.management.client_grants import ClientGrants
from auth0.management.clients import Clients
from auth0.management.connections import Connections
from auth0.management.logs import Logs
from auth0.management.resource_servers import ResourceServers
from auth0.management.users import Users
from auth0.management.users_by_email import UsersByEmail
from auth0.rest import RestClientOptions

CONNECTION = "acme-oidc"
USERS = 12
PER_PAGE = 5


def outcome(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": call()}
    except RateLimitError as exc:
        return {"error": "RateLimitError", "status_code": exc.status_code,
                "error_code": exc.error_code, "message": exc.message,
                "reset_at": exc.reset_at}
    except Auth0Error as exc:
        return {"error": "Auth0Error", "status_code": exc.status_code,
                "error_code": exc.error_code, "message": exc.message}


def crud(cfg: dict[str, Any]) -> dict[str, Any]:
    domain, token = cfg["domain"], cfg["token"]

    def make(cls: Any, bearer: str = token, **options: Any) -> Any:
        return cls(domain, bearer, protocol="http", timeout=10, **options)

    clients, grants = make(Clients), make(ClientGrants)
    connections, users = make(Connections), make(Users)
    out: dict[str, Any] = {"version": auth0.__version__}

    app = clients.create({"name": "v4 app", "app_type": "regular_web",
                          "callbacks": ["https://app.example.test/cb"]})
    out["clients"] = {
        "created": app,
        "get": clients.get(app["client_id"]),
        "get_fields": clients.get(app["client_id"], fields=["client_id", "name"],
                                  include_fields=True),
        "all": clients.all(),
        "all_page": clients.all(page=0, per_page=2, extra_params={"include_totals": "true"}),
        "update": clients.update(app["client_id"], {"name": "v4 app renamed"}),
        "rotate": clients.rotate_secret(app["client_id"]),
        "delete": clients.delete(app["client_id"]),
        "get_deleted": outcome(lambda: clients.get(app["client_id"])),
    }

    conn = connections.create({
        "name": CONNECTION, "strategy": "oidc", "options": cfg["upstream"]})
    other = connections.create({"name": "v4-other", "strategy": "oidc",
                                "options": cfg["upstream"]})
    out["connections"] = {
        "created": conn,
        "get": connections.get(conn["id"]),
        "all": connections.all(),
        "by_name": connections.all(name=CONNECTION),
        "update": connections.update(other["id"], {"display_name": "Other"}),
        "delete": connections.delete(other["id"]),
        "get_deleted": outcome(lambda: connections.get(other["id"])),
    }

    backend = clients.create({"name": "v4 backend", "app_type": "non_interactive"})
    grant = grants.create({"client_id": backend["client_id"], "audience": cfg["audience"],
                           "scope": ["read:users"]})
    out["client_grants"] = {
        "created": grant,
        "all": grants.all(client_id=backend["client_id"]),
        "update": grants.update(grant["id"], {"scope": ["read:users", "update:users"]}),
        "delete": grants.delete(grant["id"]),
        "all_after": grants.all(client_id=backend["client_id"]),
    }

    created = [users.create({"connection": CONNECTION, "user_id": f"v4-{n:02d}",
                             "email": f"v4-{n:02d}@example.com",
                             "app_metadata": {"plan": "gold" if n % 4 == 0 else "free"}})
               for n in range(USERS)]
    pages = []
    page = 0
    while True:  # what v4 code does: ask for the next page until one comes back empty
        body = users.list(page=page, per_page=PER_PAGE,
                          q=f'identities.connection:"{CONNECTION}"')
        pages.append(body)
        if not body["users"] or page > USERS:
            break
        page += 1
    first = created[0]["user_id"]
    out["users"] = {
        "created": created,
        "pages": pages,
        "bare": users.list(include_totals=False, per_page=100,
                           q=f'identities.connection:"{CONNECTION}"'),
        "search_email": users.list(q='email:"v4-03@example.com"', search_engine="v3"),
        "search_gold": users.list(q="app_metadata.plan:gold", per_page=100),
        "by_email": make(UsersByEmail).search_users_by_email("v4-05@example.com"),
        "by_email_fields": make(UsersByEmail).search_users_by_email(
            "v4-05@example.com", fields=["user_id", "email"], include_fields=True),
        "get": users.get(first),
        "get_fields": users.get(first, fields=["user_id", "app_metadata"]),
        "update": users.update(first, {"app_metadata": {"plan": None, "seats": 3},
                                       "user_metadata": {"theme": "dark"}}),
        "logs": users.get_log_events(first, per_page=5),
    }

    primary = users.create({"connection": CONNECTION, "user_id": "v4-main"})
    users.create({"connection": CONNECTION, "user_id": "v4-alt"})
    out["linking"] = {
        "link": users.link_user_account(primary["user_id"], {
            "provider": "oidc", "user_id": f"{CONNECTION}|v4-alt",
            "connection_id": conn["id"]}),
        "secondary_gone": outcome(lambda: users.get(f"oidc|{CONNECTION}|v4-alt")),
        "unlink": users.unlink_user_account(primary["user_id"], "oidc", f"{CONNECTION}|v4-alt"),
        "secondary_back": users.get(f"oidc|{CONNECTION}|v4-alt"),
    }
    out["users"]["delete"] = users.delete(created[1]["user_id"])
    out["users"]["get_deleted"] = outcome(lambda: users.get(created[1]["user_id"]))

    apis = make(ResourceServers)
    api = apis.create({"identifier": "https://api.v4.example.test/", "name": "v4 API",
                       "scopes": [{"value": "read:things", "description": "Read"}]})
    out["resource_servers"] = {
        "created": api,
        "get": apis.get(api["id"]),
        "get_all": apis.get_all(),
        "get_all_page": apis.get_all(page=0, per_page=1, include_totals=True),
        "update": apis.update(api["id"], {"name": "v4 API renamed"}),
        "duplicate": outcome(lambda: apis.create({"identifier": "https://api.v4.example.test/",
                                                  "name": "again"})),
        "delete": apis.delete(api["id"]),
        "get_deleted": outcome(lambda: apis.get(api["id"])),
    }

    logs = make(Logs)
    found = logs.search(per_page=10)
    out["logs"] = {"search": found,
                   "get": logs.get(found["logs"][0]["log_id"]) if found.get("logs") else None}

    out["errors"] = {
        "bad_body": outcome(lambda: clients.create({"name": ""})),
        "bad_token": outcome(lambda: make(Users, "not-a-jwt").list()),
        "no_scope": outcome(lambda: make(Users, cfg["weak_token"]).list()),
    }
    return out


def throttled(cfg: dict[str, Any]) -> dict[str, Any]:
    """A bucket already spent: without retries the SDK raises RateLimitError at once; with
    its default retries (429 only, 100 ms..1 s backoff, headers ignored) it gets through
    once the window has passed."""
    def users(retries: int) -> Users:
        return Users(cfg["domain"], cfg["token"], protocol="http", timeout=10,
                     rest_options=RestClientOptions(retries=retries))

    no_retry = users(0)
    attempts = [outcome(lambda: no_retry.list(per_page=1)) for _ in range(cfg["spend"])]
    retrying = users(10)
    after, retries = [], 0
    for _ in range(cfg["spend"]):  # more calls than one window allows: some must retry
        after.append(outcome(lambda: retrying.list(per_page=1)))
        retries += retrying.client._metrics["retries"]
    return {"attempts": attempts, "after_retries": after, "retries_used": retries}


if __name__ == "__main__":
    config = json.load(sys.stdin)
    scenario = {"crud": crud, "throttled": throttled}[config["scenario"]]
    json.dump(scenario(config), sys.stdout, default=str)
