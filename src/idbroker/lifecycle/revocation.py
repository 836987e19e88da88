"""Upstream revocation of IdP tokens, from the durable outbox.

Whatever makes a revocation necessary (unlink, user deletion, the explicit
``.../identities/{provider}/{user_id}/tokens`` endpoint) writes an outbox row in its own
transaction (``lifecycle.outbox.enqueue_revocation``) and clears the identity's tokens there
too, so they are unreadable through the API from that commit on. This module works the rows
off: one best-effort attempt right after the commit (``kick``), and the ``revocations`` job for
everything else — rows whose first attempt failed, or whose process died before it ran.

Failures are retried with exponential backoff and jitter (honouring ``Retry-After``) until
``IDBROKER_REVOCATION_GIVE_UP_AFTER_S`` after the row was queued; then the row is
``given_up``, audited and announced with a ``identity.revocation_failed`` event. Final rows
keep no token material. Audit types: ``revoke_requested``, ``sidp_revoke``, ``fidp_revoke``,
``fidp_revoke_given_up``, ``idp_revoke_unsupported`` (docs/token-termination.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from idbroker.clock import now_ms
from idbroker.connectors.revocation import RevocationResult, revoke_tokens
from idbroker.errors import ConfigurationError, Conflict, NotFound, VaultError
from idbroker.lifecycle.jobs import register
from idbroker.lifecycle.outbox import REVOCATION_FAILED, emit_event, enqueue_revocation, \
    revocation_aad
from idbroker.runtime import Runtime
from idbroker.vault import revocation_store as rs
from idbroker.vault.crypto import Vault
from idbroker.vault.records import Identity, TokenSet

log = logging.getLogger("idbroker.revocation")

JOB_INTERVAL_S = 30.0
BATCH_SIZE = 50
# A claimed row is due again after this long, in case its worker died mid-attempt; longer
# than one attempt can take (two upstream calls bounded by IDBROKER_UPSTREAM_TIMEOUT).
LEASE_MS = 5 * 60_000
REVOKED = "revoked"

_inflight: set[asyncio.Task[bool]] = set()


# --- queueing -------------------------------------------------------------------------------


async def enqueue_and_clear(conn: AsyncConnection, vault: Vault, identity: Identity,
                            reason: str) -> str | None:
    """In the caller's transaction: owe the upstream a revocation and make the tokens
    unreadable. Returns the outbox id (None when the identity held no tokens)."""
    outbox_id = await enqueue_revocation(conn, vault, identity, reason)
    if not await rs.clear_tokens(conn, identity, now_ms(), status=REVOKED):
        raise Conflict("The identity's tokens changed while being revoked; retry",
                       error_code="conflict", detail=f"identity {identity.id} changed")
    return outbox_id


async def revoke_identity(rt: Runtime, user_id: str, provider: str, idp_user_id: str,
                          reason: str) -> tuple[Identity, str | None]:
    """The explicit revocation: queue it and clear the stored tokens in one transaction."""
    for _ in range(3):
        try:
            async with rt.store.engine.begin() as conn:
                identity = await rs.find_identity(conn, user_id, provider, idp_user_id)
                if identity is None and not await rs.user_exists(conn, user_id):
                    raise NotFound("The user does not exist.", error_code="inexistent_user")
                if identity is None:
                    raise NotFound("The identity does not exist.",
                                   error_code="inexistent_identity")
                outbox_id = await enqueue_and_clear(conn, rt.store.vault, identity, reason)
            break
        except Conflict:
            # A refresh wrote new tokens between our read and our write: rolled back; re-read.
            continue
    else:
        raise Conflict("The identity's tokens keep changing; retry", error_code="conflict")
    if outbox_id:
        kick(rt, outbox_id)
    return identity, outbox_id


def kick(rt: Runtime, outbox_id: str) -> None:
    """One attempt right away, without holding up the caller's response; the job retries."""
    task = asyncio.get_running_loop().create_task(_attempt_quietly(rt, outbox_id))
    _inflight.add(task)
    task.add_done_callback(_inflight.discard)


async def settle() -> None:
    """Wait for the immediate attempts started by this process (shutdown, tests)."""
    while _inflight:
        await asyncio.gather(*list(_inflight), return_exceptions=True)


async def _attempt_quietly(rt: Runtime, outbox_id: str) -> bool:
    try:
        return await process_one(rt, outbox_id)
    except Exception:  # noqa: BLE001 - best effort; the row stays due for the job
        log.exception("revocation %s: immediate attempt failed unexpectedly", outbox_id)
        return False


# --- processing -----------------------------------------------------------------------------


@register("revocations", JOB_INTERVAL_S)
async def run_once(rt: Runtime) -> int:
    return await process_due(rt)


async def process_due(rt: Runtime, *, now: int | None = None, limit: int = BATCH_SIZE) -> int:
    """One batch of due rows; returns how many this process attempted. ``now`` (epoch ms)
    lets a caller act as of another time, e.g. to run what is due tomorrow."""
    now = now_ms() if now is None else now
    attempted = 0
    for outbox_id in await rs.due_ids(rt.store, now, limit):
        attempted += await process_one(rt, outbox_id, now=now)
    return attempted


async def process_one(rt: Runtime, outbox_id: str, *, now: int | None = None) -> bool:
    now = now_ms() if now is None else now
    row = await rs.claim(rt.store, outbox_id, now, LEASE_MS)
    if row is None:
        return False  # not due, finished, or another worker has it
    result = await _attempt(rt, row)
    if result.ok:
        await _finish(rt, row, rs.DONE, now, result, "sidp_revoke",
                      "IdP tokens revoked upstream")
    elif result.unsupported:
        await _finish(rt, row, rs.UNSUPPORTED, now, result, "idp_revoke_unsupported",
                      "The connection cannot revoke tokens upstream")
    elif now - row.created_at >= rt.settings.revocation_give_up_after_s * 1000:
        await _finish(rt, row, rs.GIVEN_UP, now, result, "fidp_revoke_given_up",
                      "Upstream revocation given up")
    else:
        await _retry(rt, row, now, result)
    return True


async def _attempt(rt: Runtime, row: rs.OutboxRow) -> RevocationResult:
    connection = await rt.store.get_connection(row.connection_id)
    if connection is None:
        return RevocationResult(False, "the connection no longer exists", method="none",
                                unsupported=True)
    try:
        tokens = TokenSet.from_json(rt.store.vault.open(row.tokens_sealed or b"",
                                                        revocation_aad(row.id)))
        connector = rt.connector(connection)
    except VaultError as exc:
        return RevocationResult(False, f"sealed tokens do not open ({exc.detail})")
    except (ConfigurationError, ValueError) as exc:
        return RevocationResult(False, f"connection unusable ({type(exc).__name__})")
    return await revoke_tokens(connector, tokens)


def _details(row: rs.OutboxRow, result: RevocationResult, **extra: Any) -> dict[str, Any]:
    return {"revocation_id": row.id, "identity_id": row.identity_id, "reason": row.reason,
            "attempt": row.attempts, "method": result.method, "outcome": result.detail,
            "revoked": result.revoked, **extra}


async def _finish(rt: Runtime, row: rs.OutboxRow, status: str, now: int,
                  result: RevocationResult, audit_type: str, description: str) -> None:
    async with rt.store.engine.begin() as conn:
        if not await rs.close(conn, row, status, now, None if result.ok else result.detail):
            return  # our lease ran out and another worker took over
        if status == rs.GIVEN_UP:
            await emit_event(conn, REVOCATION_FAILED, {
                "user_id": row.user_id, "connection": row.connection,
                "identity_id": row.identity_id, "revocation_id": row.id,
                "attempts": row.attempts, "last_error": result.detail})
    log.log(logging.INFO if status == rs.DONE else logging.WARNING,
            "revocation %s (%s) %s after %d attempt(s): %s", row.id, row.connection, status,
            row.attempts, result.detail)
    await rt.store.audit(audit_type, description=description, user_id=row.user_id,
                         connection=row.connection, details=_details(row, result, status=status))


async def _retry(rt: Runtime, row: rs.OutboxRow, now: int, result: RevocationResult) -> None:
    settings = rt.settings
    backoff = min(settings.revocation_retry_max_s,
                  settings.revocation_retry_first_s * 2 ** max(0, row.attempts - 1))
    delay_s = backoff * random.uniform(0.5, 1.0)  # jitter: workers must not retry in step
    if result.retry_after_s is not None:
        delay_s = max(delay_s, result.retry_after_s)
    deadline = row.created_at + settings.revocation_give_up_after_s * 1000
    # The last attempt happens at the deadline, so giving up never waits past it.
    when = min(now + int(delay_s * 1000), max(deadline, now))
    async with rt.store.engine.begin() as conn:
        if not await rs.retry_at(conn, row, when, now, result.detail):
            return
    log.warning("revocation %s (%s) attempt %d failed: %s; next attempt in %.0f s", row.id,
                row.connection, row.attempts, result.detail, (when - now) / 1000)
    await rt.store.audit("fidp_revoke", description="Upstream revocation attempt failed",
                         user_id=row.user_id, connection=row.connection,
                         details=_details(row, result, next_attempt_at=when))
