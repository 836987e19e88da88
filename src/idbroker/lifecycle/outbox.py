"""Writing to the durable outboxes. Callers pass the connection of the transaction that makes
the revocation or event necessary, so the record commits (or rolls back) with the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from idbroker.clock import now_ms
from idbroker.ids import new_id
from idbroker.lifecycle.audit import assert_no_credentials
from idbroker.vault import schema as t
from idbroker.vault.crypto import Vault
from idbroker.vault.records import Identity
from idbroker.vault.store import identity_aad

# Event types (docs/events.md lists their payloads).
IDENTITY_LINKED = "identity.linked"
IDENTITY_UNLINKED = "identity.unlinked"
TOKEN_REFRESH_FAILED = "identity.token_refresh_failed"
IDENTITY_NEEDS_RECONSENT = "identity.needs_reconsent"
USER_DELETED = "user.deleted"
REVOCATION_FAILED = "identity.revocation_failed"


def revocation_aad(outbox_id: str) -> str:
    return f"idbroker/revocation-outbox/{outbox_id}"


async def enqueue_revocation(conn: AsyncConnection, vault: Vault, identity: Identity,
                             reason: str) -> str | None:
    """Owe the upstream a revocation of this identity's tokens; None when it holds none."""
    if not identity.tokens_sealed:
        return None
    outbox_id = new_id("rev_")
    tokens = vault.open(identity.tokens_sealed, identity_aad(identity.id))
    stamp = now_ms()
    await conn.execute(t.revocation_outbox.insert().values(
        id=outbox_id, identity_id=identity.id, user_id=identity.user_id,
        connection_id=identity.connection_id, connection=identity.connection,
        tokens_sealed=vault.seal(tokens, revocation_aad(outbox_id)), reason=reason,
        status="pending", attempts=0, next_attempt_at=stamp, created_at=stamp,
        updated_at=stamp))
    return outbox_id


async def emit_event(conn: AsyncConnection, type_: str, data: dict[str, Any]) -> str:
    """Record an event for webhook delivery; ``data`` must never hold a token or secret."""
    # Refused here, loudly, rather than delivered to every webhook receiver.
    assert_no_credentials(data)
    event_id = new_id("evt_")
    stamp = now_ms()
    await conn.execute(t.event_outbox.insert().values(
        id=event_id, type=type_, data=data, status="pending", attempts=0,
        next_attempt_at=stamp, created_at=stamp))
    return event_id
