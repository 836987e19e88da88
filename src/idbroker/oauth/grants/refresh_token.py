"""grant_type=refresh_token with rotation (RFC 9700 §4.14.2).

Each refresh token works once; the answer carries its successor. Presenting a used one means
two parties hold the same family, so the whole family is revoked.
"""

from __future__ import annotations

from typing import Any

from idbroker.clock import now_ms
from idbroker.errors import InvalidGrant, InvalidRequest, InvalidScope
from idbroker.oauth import scopes
from idbroker.oauth.grants import user_tokens
from idbroker.runtime import Runtime
from idbroker.vault.records import Client


async def grant(rt: Runtime, client: Client, params: dict[str, str]) -> dict[str, Any]:
    token = params.get("refresh_token")
    if not token:
        raise InvalidRequest("refresh_token is required")
    found = await rt.store.find_refresh_token(token)
    if found is None or found["client_id"] != client.client_id:
        raise InvalidGrant("Unknown or invalid refresh token.")
    row, first_use = await rt.store.use_refresh_token(token)
    assert row is not None
    if not first_use:
        await rt.store.revoke_grant(row["grant_id"])
        raise InvalidGrant("Unknown or invalid refresh token.", detail="reuse; family revoked")
    if row["expires_at"] < now_ms() or not await rt.store.grant_is_active(row["grant_id"]):
        raise InvalidGrant("Unknown or invalid refresh token.")
    data = row["data"]
    granted: list[str] = data["scope"]
    # An empty scope means "the same scopes" (auth0-python sends scope="").
    requested = scopes.parse(params.get("scope")) or granted
    if not set(requested) <= set(granted):
        raise InvalidScope("the requested scope exceeds the original grant")
    if "offline_access" not in requested:
        requested = [*requested, "offline_access"]
    return await user_tokens.issue(
        rt, client, user_id=row["user_id"], grant_id=row["grant_id"], scope=requested,
        audience=data.get("audience"), nonce=None, auth_time=data["auth_time"], refresh=True,
        family_expires_at=data.get("family_expires_at"), sid=data.get("sid"))
