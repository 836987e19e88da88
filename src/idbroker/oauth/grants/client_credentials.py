"""grant_type=client_credentials: machine-to-machine tokens whose scopes come from the
client's grant for the audience (Auth0 client grants). No grant, no token."""

from __future__ import annotations

from typing import Any

from idbroker.errors import AccessDenied, InvalidRequest, InvalidScope, UnauthorizedClient
from idbroker.oauth import scopes
from idbroker.runtime import Runtime
from idbroker.vault.records import Client


async def grant(rt: Runtime, client: Client, params: dict[str, str]) -> dict[str, Any]:
    if client.is_public:
        raise UnauthorizedClient("public clients cannot use client_credentials")
    audience = params.get("audience")
    if not audience:
        raise InvalidRequest("audience is required")
    canonical = rt.settings.management_audience
    if audience not in rt.settings.management_audience_aliases:
        raise AccessDenied(f"Service not found: {audience}")
    grants = await rt.store.list_client_grants(client_id=client.client_id, audience=canonical)
    if not grants:
        raise AccessDenied(f'Client is not authorized to access "{audience}". '
                           "You need to create a client-grant associated to this API.")
    allowed = grants[0].scope
    requested = scopes.parse(params.get("scope"))
    if requested and not set(requested) <= set(allowed):
        raise InvalidScope("the requested scope exceeds the client grant")
    granted = requested or allowed
    ttl = rt.settings.access_token_ttl
    token = rt.issuer.access_token(
        sub=f"{client.client_id}@clients", audience=[canonical], scope=scopes.join(granted),
        client_id=client.client_id, ttl_s=ttl, extra={"gty": "client-credentials"})
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
            "scope": scopes.join(granted)}
