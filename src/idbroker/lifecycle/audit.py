"""The audit trail of IdP tokens: every read, exchange, refresh and revocation, with who
(client, caller, user), what (identity, connection), where (IP), when and the outcome.

``record_token_event`` is the one way to write such a record: it picks the type code from
(action, outcome), so codes stay consistent (docs/audit.md lists them), and it refuses
anything that could carry a credential — a detail named like one, or a ``reason`` that is not
a short code (an exception message may quote what it failed on)."""

from __future__ import annotations

import re
from typing import Any

from idbroker.vault.store import Store

# (action, outcome) → audit_log.type: Auth0's own code where Auth0 has one (mgmt_api_read),
# otherwise the codes the refresh, exchange, revocation and validation code already write.
TYPE_CODES: dict[tuple[str, str], str] = {
    ("read", "success"): "mgmt_api_read",
    ("exchange", "success"): "sexchange",
    ("exchange", "failure"): "fexchange",
    ("refresh", "success"): "idp_token_refresh",
    ("refresh", "failure"): "idp_token_refresh_failed",
    ("revoke_request", "success"): "revoke_requested",
    ("revoke", "success"): "sidp_revoke",
    ("revoke", "failure"): "fidp_revoke",
    ("revoke", "given_up"): "fidp_revoke_given_up",
    ("revoke", "unsupported"): "idp_revoke_unsupported",
    ("validate", "active"): "idp_token_validate",
    ("validate", "inactive"): "idp_token_validate",
    ("validate", "failure"): "idp_token_validate",
}

DESCRIPTIONS = {
    "read": "IdP tokens read", "exchange": "IdP token exchange",
    "refresh": "IdP token refresh", "revoke_request": "IdP token revocation requested",
    "revoke": "Upstream revocation of IdP tokens", "validate": "IdP token validated upstream",
}

# Names under which a credential could travel; a detail so named is refused outright.
# ("refresh_token_rotated" or "token_status" describe a credential; they are not one.)
_CREDENTIAL_NAMES = re.compile(
    r"(^|_)(token|tokens|secret|secrets|password|code|assertion|verifier)$")
_REASON = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_MAX_TEXT = 200


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, list | tuple) and depth < 2:
        return [_clean(v, depth + 1) for v in value[:50]]
    if isinstance(value, dict) and depth < 2:
        return {str(k): _clean(v, depth + 1) for k, v in value.items() if _allowed(str(k))}
    raise ValueError(f"audit detail of type {type(value).__name__} is not allowed")


def _allowed(name: str) -> bool:
    if _CREDENTIAL_NAMES.search(name.lower()):
        raise ValueError(f"audit detail {name!r} looks like a credential")
    return True


async def record_token_event(store: Store, *, action: str, outcome: str,
                             client_id: str | None, user_id: str | None,
                             connection: str | None, identity_id: str | None,
                             ip: str | None = None, actor: str | None = None,
                             reason: str | None = None, description: str | None = None,
                             details: dict[str, Any] | None = None) -> str:
    """Write one audit record of something done to an identity's IdP tokens; return its type.

    ``client_id`` is the application that acted (azp), ``actor`` the caller's subject when it
    differs (a Management API token's ``sub``) or ``"system"`` for background work."""
    type_code = TYPE_CODES.get((action, outcome))
    if type_code is None:
        raise ValueError(f"unknown token event {action}/{outcome}")
    if reason is not None and not _REASON.fullmatch(reason):
        reason = "error"
    body: dict[str, Any] = {"action": action, "outcome": outcome, "identity_id": identity_id}
    if actor is not None:
        body["actor"] = actor[:_MAX_TEXT]
    if reason is not None:
        body["reason"] = reason
    body.update(_clean(details or {}))
    await store.audit(type_code, description=(description or DESCRIPTIONS[action])[:500],
                      client_id=client_id, user_id=user_id, connection=connection, ip=ip,
                      details=body)
    return type_code


def assert_no_credentials(data: Any) -> None:
    """Refuse a payload (an event's data) with a key named like a credential."""
    _clean(data)
