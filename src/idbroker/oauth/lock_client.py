"""The client configuration Lock loads before it renders (``GET /client/{id}.js``,
auth0_compat.md §2.7): the client's enabled connections grouped by strategy, and for database
connections the settings Lock's forms follow (password policy, sign-up, username)."""

from __future__ import annotations

import json
from typing import Any

from idbroker.dbconn import STRATEGY as DATABASE_STRATEGY
from idbroker.dbconn.options import lock_connection
from idbroker.runtime import Runtime
from idbroker.vault.records import Connection

# Lock reads ``tenant`` only to load tenant information (``__useTenantInfo``), which idbroker
# does not serve; one installation is one tenant.
TENANT = "idbroker"


async def lock_client_config(rt: Runtime, client_id: str) -> dict[str, Any] | None:
    """The object for ``Auth0.setClient(…)``; None for an unknown client."""
    client = await rt.store.get_client(client_id)
    if client is None:
        return None
    enabled = [c for c in await rt.store.list_connections() if client_id in c.enabled_clients]
    strategies: dict[str, list[dict[str, Any]]] = {}
    for connection in sorted(enabled, key=lambda c: c.name):
        strategies.setdefault(connection.strategy, []).append(_connection(connection))
    issuer = rt.settings.issuer
    return {
        "id": client.client_id,
        "tenant": TENANT,
        "subscription": "free",
        "authorize": f"{issuer}authorize",
        "callback": client.callbacks[0] if client.callbacks else "",
        "hasAllowedOrigins": bool(client.web_origins),
        "strategies": [{"name": name, "connections": connections}
                       for name, connections in sorted(strategies.items())],
    }


def _connection(connection: Connection) -> dict[str, Any]:
    if connection.strategy == DATABASE_STRATEGY:
        return lock_connection(connection)
    out: dict[str, Any] = {"name": connection.name}
    if connection.display_name:
        out["display_name"] = connection.display_name
    # Enterprise connections: the e-mail domains Lock uses for home-realm discovery.
    aliases = connection.options.get("domain_aliases")
    if isinstance(aliases, list) and aliases and all(isinstance(a, str) for a in aliases):
        out["domain"] = aliases[0]
        out["domain_aliases"] = aliases
    return out


def set_client_script(config: dict[str, Any]) -> str:
    """``Auth0.setClient({...});`` with the JSON made safe to embed anywhere (no ``<``, ``>``,
    ``&`` or line separators that could end a script element or a JS string)."""
    body = json.dumps(config, separators=(",", ":"), ensure_ascii=True)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        body = body.replace(char, escape)
    return f"Auth0.setClient({body});\n"
