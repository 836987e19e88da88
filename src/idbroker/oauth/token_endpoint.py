"""POST /oauth/token: authenticate the client, check it may use the grant, dispatch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from idbroker.errors import InvalidClient, InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from idbroker.oauth.client_auth import authenticate
from idbroker.oauth.request_context import caller_ip
from idbroker.oauth.grants import authorization_code, client_credentials, refresh_token
from idbroker.oauth.grants import token_exchange
from idbroker.runtime import Runtime
from idbroker.vault.records import Client

Grant = Callable[[Runtime, Client, dict[str, str]], Awaitable[dict[str, Any]]]

GRANTS: dict[str, Grant] = {
    "authorization_code": authorization_code.grant,
    "client_credentials": client_credentials.grant,
    "refresh_token": refresh_token.grant,
    token_exchange.AUTH0_GRANT: token_exchange.auth0_grant,
    token_exchange.RFC8693_GRANT: token_exchange.rfc8693_grant,
}


# Auth0's log codes for a failed token exchange, by grant.
FAILURE_LOG_TYPES = {"client_credentials": "feccft", "authorization_code": "feacft",
                     "refresh_token": "fertft"}


async def token(rt: Runtime, params: dict[str, str], authorization: str | None,
                ip: str | None = None) -> dict[str, Any]:
    grant_type = params.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    if grant_type not in GRANTS:
        raise UnsupportedGrantType(f"unsupported grant_type: {grant_type[:80]}")
    try:
        client = await authenticate(rt, params, authorization)
    except InvalidClient as exc:
        # A failed client authentication is what a brute-force attempt looks like: record it
        # (the claimed client_id and the address, never the secret that was tried).
        await rt.store.audit(FAILURE_LOG_TYPES.get(grant_type, "f"), description=exc.description,
                             client_id=(params.get("client_id") or "")[:64] or None, ip=ip,
                             details={"grant_type": grant_type, "reason": "client authentication"})
        raise
    return await issue(rt, client, grant_type, params, ip)


async def issue(rt: Runtime, client: Client, grant_type: str, params: dict[str, str],
                ip: str | None) -> dict[str, Any]:
    """The grant itself, for a client already authenticated (also http/fast_lane.py)."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"Grant type '{grant_type}' not allowed for the client.")
    bound = caller_ip.set(ip)
    try:
        return await GRANTS[grant_type](rt, client, params)
    finally:
        caller_ip.reset(bound)


async def revoke(rt: Runtime, params: Mapping[str, str], authorization: str | None) -> None:
    """RFC 7009: revoking a refresh token ends its whole grant; unknown tokens are not an
    error, so the endpoint cannot be used to test whether a token exists."""
    client = await authenticate(rt, params, authorization)
    token_value = params.get("token")
    if not token_value:
        raise InvalidRequest("token is required")
    row = await rt.store.find_refresh_token(token_value)
    if row is not None and row["client_id"] == client.client_id:
        await rt.store.revoke_grant(row["grant_id"])
