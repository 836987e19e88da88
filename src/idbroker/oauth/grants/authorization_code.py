"""grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6).

The code is consumed before anything else is checked, so a failed attempt (wrong verifier,
wrong redirect_uri) still burns it. A second redemption revokes everything the first one
produced (RFC 6749 §4.1.2).
"""

from __future__ import annotations

from typing import Any

from idbroker.clock import now_ms
from idbroker.errors import InvalidGrant, InvalidRequest
from idbroker.oauth import pkce
from idbroker.oauth.grants import user_tokens
from idbroker.runtime import Runtime
from idbroker.vault.records import Client


async def grant(rt: Runtime, client: Client, params: dict[str, str]) -> dict[str, Any]:
    code = params.get("code")
    if not code:
        raise InvalidRequest("code is required")
    row, first_use = await rt.store.consume_code(code)
    if row is None:
        raise InvalidGrant("Invalid authorization code")
    if not first_use:
        await rt.store.revoke_grant(row["grant_id"])
        raise InvalidGrant("Invalid authorization code", detail="code replayed; grant revoked")
    if row["client_id"] != client.client_id:
        raise InvalidGrant("Invalid authorization code", detail="code issued to another client")
    if row["expires_at"] < now_ms():
        raise InvalidGrant("Invalid authorization code", detail="code expired")
    data = row["data"]
    if params.get("redirect_uri") != data["redirect_uri"]:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    pkce.verify(data.get("code_challenge"), params.get("code_verifier"))
    # No grant_is_active check here: before its first redemption a grant can only have been
    # revoked by a concurrent replay of this very code, and RFC 6749 §4.1.2 denies the
    # replay, not the first use (checking made 20 racing redemptions sometimes yield zero
    # successes). What we issue stays dead anyway: refresh and /userinfo check the grant.
    return await user_tokens.issue(
        rt, client, user_id=row["user_id"], grant_id=row["grant_id"], scope=data["scope"],
        audience=data.get("audience"), nonce=data.get("nonce"), auth_time=data["auth_time"],
        refresh=True, sid=data.get("sid"))
