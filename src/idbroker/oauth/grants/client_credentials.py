"""grant_type=client_credentials: machine-to-machine tokens whose scopes come from the
client's grant for the audience (Auth0 client grants). No grant, no token."""

from __future__ import annotations

from typing import Any

from idbroker.errors import (
    AccessDenied, InvalidRequest, InvalidScope, OAuthError, UnauthorizedClient,
)
from idbroker.oauth import scopes
from idbroker.oauth.request_context import caller_ip
from idbroker.runtime import Runtime
from idbroker.vault import resource_server_store as rs_store
from idbroker.vault.records import Client


async def grant(rt: Runtime, client: Client, params: dict[str, str]) -> dict[str, Any]:
    try:
        body, audience = await _grant(rt, client, params)
    except OAuthError as exc:
        # feccft / seccft: Auth0's log codes for this exchange. Identifiers only, never the
        # secret or the token (docs/logs.md).
        await rt.store.audit("feccft", description=exc.description, client_id=client.client_id,
                             ip=caller_ip.get(),
                             details={"audience": (params.get("audience") or "")[:600],
                                      "error": exc.error})
        raise
    await rt.store.audit("seccft", description="Client Credentials for Access Token",
                         client_id=client.client_id, ip=caller_ip.get(),
                         details={"audience": audience, "scope": body["scope"]})
    return body


async def _grant(rt: Runtime, client: Client,
                 params: dict[str, str]) -> tuple[dict[str, Any], str]:
    if client.is_public:
        raise UnauthorizedClient("public clients cannot use client_credentials")
    audience = params.get("audience")
    if not audience:
        raise InvalidRequest("audience is required")
    ttl = rt.settings.access_token_ttl
    if audience in rt.settings.management_audience_aliases:
        canonical = rt.settings.management_audience
        defined: list[str] | None = None
    else:
        # An API registered as a resource server: its own identifier, scopes and lifetime.
        server = await rs_store.get_by_identifier(rt.store, audience)
        if server is None:
            raise AccessDenied(f"Service not found: {audience}")
        canonical, defined, ttl = server.identifier, server.scope_values, server.token_lifetime
    grants = await rt.store.list_client_grants(client_id=client.client_id, audience=canonical)
    if not grants:
        raise AccessDenied(f'Client is not authorized to access "{audience}". '
                           "You need to create a client-grant associated to this API.")
    allowed = [s for s in grants[0].scope if defined is None or s in defined]
    requested = scopes.parse(params.get("scope"))
    if requested and not set(requested) <= set(allowed):
        raise InvalidScope("the requested scope exceeds the client grant")
    granted = requested or allowed
    token = rt.issuer.access_token(
        sub=f"{client.client_id}@clients", audience=[canonical], scope=scopes.join(granted),
        client_id=client.client_id, ttl_s=ttl, extra={"gty": "client-credentials"})
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
            "scope": scopes.join(granted)}, canonical
