"""Is an identity's stored IdP access token still live? Asked of the upstream itself
(connectors/validation.py), answered without ever echoing the token, and audited
(``idp_token_validate``)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from idbroker.clock import now_s
from idbroker.connectors.validation import check_access_token
from idbroker.errors import ConfigurationError, NotFound, UpstreamCheckFailed, UpstreamError, \
    VaultError
from idbroker.runtime import Runtime
from idbroker.vault import revocation_store as rs

log = logging.getLogger("idbroker.validation")


async def validate_identity_token(rt: Runtime, *, user_id: str, provider: str,
                                  idp_user_id: str, caller: str | None,
                                  ip: str | None) -> dict[str, Any]:
    async with rt.store.engine.connect() as conn:
        if not await rs.user_exists(conn, user_id):
            raise NotFound("The user does not exist.", error_code="inexistent_user")
        identity = await rs.find_identity(conn, user_id, provider, idp_user_id)
    if identity is None:
        raise NotFound("The identity does not exist.", error_code="inexistent_identity")
    checked_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    body: dict[str, Any] = {"active": False, "method": "none", "checked_at": checked_at}
    try:
        tokens = rt.store.open_tokens(identity)
    except VaultError as exc:
        log.error("identity %s: sealed tokens do not open (%s)", identity.id, exc.detail)
        tokens = None
        body["token_status"] = "unreadable"
    if tokens is not None and tokens.access_token:
        connection = await rt.store.get_connection(identity.connection_id)
        try:
            if connection is None:
                raise ConfigurationError(detail="connection deleted")
            check = await check_access_token(rt.connector(connection), tokens.access_token,
                                             tokens=tokens)
        except (UpstreamError, ConfigurationError) as exc:
            await _audit(rt, identity.user_id, identity.connection, caller, ip,
                         {"identity_id": identity.id, "outcome": "upstream_error"})
            raise UpstreamCheckFailed(detail=f"validation: {exc.detail or exc.description}") \
                from exc
        body.update(active=check.active, method=check.method)
        if check.active:
            exp = check.exp if check.exp is not None else tokens.expires_at
            if check.scope is not None:
                body["scope"] = check.scope
            if exp is not None:
                body["exp"] = exp
                body["expires_in"] = max(0, exp - now_s())
    await _audit(rt, identity.user_id, identity.connection, caller, ip, {
        "identity_id": identity.id, "outcome": "active" if body["active"] else "inactive",
        "method": body["method"]})
    return body


async def _audit(rt: Runtime, user_id: str, connection: str, caller: str | None,
                 ip: str | None, details: dict[str, Any]) -> None:
    await rt.store.audit("idp_token_validate", description="IdP token validated upstream",
                         client_id=caller, user_id=user_id, connection=connection, ip=ip,
                         details=details)
