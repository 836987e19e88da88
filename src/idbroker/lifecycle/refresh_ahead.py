"""Refresh ahead: keep IdP tokens fresh before anyone asks (opt-in per connection with
``options.background_refresh: true``; docs/token-refresh.md).

Every run takes a bounded batch of active identities of such connections whose access token
expires within ``refresh_ahead_window_s`` and renews each through the same single-flight path
as a read, with the window as its margin. Several workers may run it at once: whoever gets an
identity's lock second re-reads it, finds it fresh and does nothing.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.errors import IdbrokerError, VaultError
from idbroker.lifecycle.jobs import register
from idbroker.lifecycle.refresh import Actor, refresh_if_expiring
from idbroker.runtime import Runtime
from idbroker.vault import refresh_store as rs

log = logging.getLogger(__name__)

JOB_INTERVAL_S = 30.0
BATCH = 100
CONCURRENCY = 4
# An identity that cannot be refreshed (no refresh token) is left alone this long, so it
# does not come back in every batch; a new login clears the hold.
HOLD_OFF_MS = 24 * 3600 * 1000

ACTOR = Actor(client_id=None, via="refresh_ahead")


@register("refresh_ahead", JOB_INTERVAL_S)
async def refresh_ahead(rt: Runtime) -> int:
    """One batch; returns how many identities were examined."""
    connection_ids = [c.id for c in await rt.store.list_connections()
                      if c.options.get("background_refresh") is True]
    window_s = max(rt.settings.refresh_ahead_window_s, rt.settings.refresh_margin_s)
    due = await rs.identities_expiring(rt.store, before_ms=now_ms() + window_s * 1000,
                                       connection_ids=connection_ids, limit=BATCH)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(identity_id: str) -> None:
        async with gate:
            await _refresh_one(rt, identity_id, window_s)

    await asyncio.gather(*(one(i) for i in due))
    return len(due)


async def _refresh_one(rt: Runtime, identity_id: str, window_s: int) -> None:
    try:
        outcome = await refresh_if_expiring(rt, identity_id, actor=ACTOR, within_s=window_s)
    except VaultError as exc:
        log.error("refresh ahead: identity %s: sealed tokens do not open (%s)", identity_id,
                  exc.detail)
        await _hold_off(rt, identity_id)
        return
    except IdbrokerError as exc:  # a failure is recorded by the refresh path itself
        log.warning("refresh ahead: identity %s: %s", identity_id, type(exc).__name__)
        return
    tokens = outcome.tokens
    if outcome.status is None and (tokens is None or not tokens.refresh_token):
        await _hold_off(rt, identity_id)  # nothing to refresh with: wait for a new login


async def _hold_off(rt: Runtime, identity_id: str) -> None:
    try:
        await rs.hold_off(rt.store, identity_id, now_ms() + HOLD_OFF_MS)
    except IntegrityError:  # the identity was deleted meanwhile: nothing to hold
        log.debug("refresh ahead: identity %s is gone", identity_id)
