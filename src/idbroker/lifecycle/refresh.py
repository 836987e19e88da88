"""Refresh on read, single-flight: an identity's IdP token set, renewed upstream first when
it is expired or about to be (docs/token-refresh.md).

One refresher per identity at a time, across coroutines (one in-flight task per identity that
concurrent callers await), processes and machines (a row lock on PostgreSQL, a lease on
SQLite: vault/refresh_store.py). Whoever obtains the lock re-reads the row first: when another
refresher has already stored a fresh token, that token is returned and the upstream is not
called. A rotated refresh token is stored in the same transaction as the new access token.

A refresh storm (many reads of one stale row at once) costs the database one refresh per
process: callers that arrive while the refresh is in flight await its task, and callers that
read the stale row before the refresh landed but ask after it take the fresh set it left
behind in this process for a few seconds (``_superseded``) instead of each starting another.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

from idbroker.clock import now_ms, now_s
from idbroker.connectors import refresh as upstream
from idbroker.errors import (
    ConfigurationError, IdbrokerError, IdpRefreshUnavailable, IdpTokenMissing,
    IdpTokenNeedsReconsent, UpstreamError, UpstreamTokenRejected,
)
from idbroker.ids import new_id
from idbroker.lifecycle.audit import record_token_event
from idbroker.lifecycle.outbox import IDENTITY_NEEDS_RECONSENT, TOKEN_REFRESH_FAILED, emit_event
from idbroker.runtime import Runtime
from idbroker.vault import refresh_store as rs
from idbroker.vault.records import Identity, TokenSet

log = logging.getLogger(__name__)

# Audit record types (docs/token-refresh.md; lifecycle/audit.py picks them).
AUDIT_REFRESHED = "idp_token_refresh"
AUDIT_REFRESH_FAILED = "idp_token_refresh_failed"

# token_status values this module sets or reports.
REAUTH_REQUIRED = "reauth_required"
REFRESH_UNAVAILABLE = "refresh_unavailable"

MAX_RETRIES = 2
_FIRST_BACKOFF_S = 0.1


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused a token read or refresh, for the audit record."""

    client_id: str | None
    user_id: str | None = None
    ip: str | None = None
    via: str = "internal"  # management_api | token_exchange | refresh_ahead | ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """``tokens``: what a user read may serve (None: serve no token fields); ``status``: the
    ``token_status`` to show for this answer; ``error``: what ``fresh_token_set`` raises."""

    tokens: TokenSet | None
    status: str | None = None
    error: IdbrokerError | None = None


async def fresh_token_set(rt: Runtime, identity_id: str, *, actor: Actor,
                          force: bool = False) -> TokenSet:
    """The identity's token set, refreshed upstream first when its access token is expired or
    expires within ``refresh_margin_s`` (or always, with ``force``).

    Raises IdpTokenMissing (no identity or no token), IdpTokenNeedsReconsent (grant dead
    upstream, or expired without a refresh token), IdpRefreshUnavailable (the upstream failed
    now; retry later), VaultError (the sealed tokens do not open)."""
    identity = await rs.get_identity(rt.store, identity_id)
    outcome = await resolve(rt, identity, actor=actor, force=force)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.tokens is not None
    return outcome.tokens


async def refresh_if_expiring(rt: Runtime, identity_id: str, *, actor: Actor,
                              within_s: int) -> Outcome:
    """The refresh-ahead job's entry: the same single-flight path, with its own (wider)
    margin, so concurrent workers re-check after the lock and refresh an identity once."""
    identity = await rs.get_identity(rt.store, identity_id)
    return await resolve(rt, identity, actor=actor, force=False, margin_s=within_s)


async def tokens_for_read(rt: Runtime, identity: Identity, *, actor: Actor) -> Outcome:
    """For ``GET /api/v2/users/{id}``: the identity row as already loaded, refreshed if stale."""
    return await resolve(rt, identity, actor=actor, force=False)


def token_state(identity: Identity) -> dict[str, Any]:
    """What any ``read:users`` caller sees of an identity's grant (no secret in it): the
    scopes the upstream granted, and ``token_status`` when the grant needs the user back."""
    state: dict[str, Any] = {}
    if identity.granted_scopes:
        state["scopes"] = list(identity.granted_scopes)
    if identity.token_status == REAUTH_REQUIRED:
        state["token_status"] = REAUTH_REQUIRED
    return state


async def resolve(rt: Runtime, identity: Identity | None, *, actor: Actor, force: bool,
                  margin_s: int | None = None) -> Outcome:
    if identity is None:
        return Outcome(None, None, IdpTokenMissing(detail="no such identity"))
    want = _Want(force, rt.settings.refresh_margin_s if margin_s is None else margin_s)
    tokens = rt.store.open_tokens(identity)
    decided = _decide(rt, identity, tokens, want)
    if decided is not None:
        return decided
    assert tokens is not None
    fresh = _fresh_after(rt, identity, want)
    if fresh is not None:
        return fresh
    return await _single_flight(rt, identity, tokens, actor, want)


# --- deciding without the upstream ------------------------------------------------------------


def expires_at(rt: Runtime, identity: Identity, tokens: TokenSet) -> int | None:
    """Epoch seconds. An upstream that sent no ``expires_in`` gets the assumed lifetime from
    when the set was stored, so it is still refreshed; without a refresh token, no expiry is
    known and the token is served as issued."""
    if tokens.expires_at is not None:
        return tokens.expires_at
    if tokens.refresh_token:
        return identity.updated_at // 1000 + rt.settings.assumed_token_lifetime_s
    return None


@dataclass(frozen=True, slots=True)
class _Want:
    force: bool
    margin_s: int


def _decide(rt: Runtime, identity: Identity, tokens: TokenSet | None,
            want: _Want) -> Outcome | None:
    """The answer when no upstream call is needed, else None."""
    force = want.force
    if identity.token_status == REAUTH_REQUIRED:
        return Outcome(None, REAUTH_REQUIRED, IdpTokenNeedsReconsent(detail="reauth_required"))
    if tokens is None or not (tokens.access_token or tokens.refresh_token):
        return Outcome(None, None, IdpTokenMissing(detail="no token stored"))
    expiry = expires_at(rt, identity, tokens)
    now = now_s()
    stale = force or (expiry is not None and expiry - now <= want.margin_s)
    if not stale and tokens.access_token:
        return Outcome(tokens)
    renewable = bool(tokens.refresh_token) or (
        bool(tokens.access_token) and upstream.renews_with_access_token(identity.provider))
    if not renewable or identity.token_status != "active":
        if (expiry is not None and expiry <= now) or force or not tokens.access_token:
            # Served as stored to a reader (expires_in says 0), never exchanged.
            return Outcome(tokens if tokens.access_token else None, None,
                           IdpTokenNeedsReconsent(detail="expired, no refresh token"))
        return Outcome(tokens)
    return None


def _unavailable(tokens: TokenSet, force: bool, retry_after_s: float | None,
                 detail: str | None = "refresh unavailable") -> Outcome:
    """The upstream cannot renew now. A still unexpired access token is still good (served,
    except to a caller that forced a refresh); an expired one is never served as if fresh."""
    error = IdpRefreshUnavailable(detail=detail, retry_after_s=retry_after_s)
    if not force and tokens.access_token and tokens.expires_at and tokens.expires_at > now_s():
        return Outcome(tokens)
    return Outcome(None, REFRESH_UNAVAILABLE, error)


# --- one refresher per identity ------------------------------------------------------------------

_inflight: dict[tuple[int, str, _Want], asyncio.Task[Outcome]] = {}


@dataclass(frozen=True, slots=True)
class _Superseded:
    sealed: bytes  # the stale row a refresh started from
    outcome: Outcome  # the fresh set the database held when that refresh ended
    until: float  # loop time; kept only as long as a read of the stale row can still be running


_superseded: dict[tuple[int, str], _Superseded] = {}
_SUPERSEDED_KEEP_S = 10.0
_SUPERSEDED_MAX = 4096


def _fresh_after(rt: Runtime, identity: Identity, want: _Want) -> Outcome | None:
    """The fresh set a finished refresh of this process found or stored, for a caller whose
    row is exactly the stale one that refresh started from. That caller read the row before
    the refresh ended (a sealed set is never written twice: each seal has its own nonce) and
    is still running after it, so the answer is one the database held during the caller's
    request: the old token is never served, and no caller starts a second refresh or re-reads
    the row for a token this process already has."""
    if want.force or identity.tokens_sealed is None:
        return None
    key = (id(rt), identity.id)
    entry = _superseded.get(key)
    if entry is None:
        return None
    if entry.until < asyncio.get_running_loop().time():
        _superseded.pop(key, None)
        return None
    if entry.sealed != identity.tokens_sealed or not _fresh_enough(entry.outcome, want):
        return None
    return entry.outcome


def _fresh_enough(outcome: Outcome, want: _Want) -> bool:
    tokens = outcome.tokens
    return (outcome.error is None and outcome.status is None and tokens is not None
            and bool(tokens.access_token) and tokens.expires_at is not None
            and tokens.expires_at - now_s() > want.margin_s)


def _remember(rt: Runtime, identity: Identity, want: _Want, task: asyncio.Task[Outcome]) -> None:
    if task.cancelled() or task.exception() is not None or identity.tokens_sealed is None:
        return
    outcome = task.result()
    # A set fresh for this caller's margin differs from the stale one it started from, so it
    # is what the row held after the stale one was replaced.
    if want.force or not _fresh_enough(outcome, want):
        return
    while len(_superseded) >= _SUPERSEDED_MAX:
        _superseded.pop(next(iter(_superseded)))
    key = (id(rt), identity.id)
    _superseded.pop(key, None)  # re-inserted last: the dict stays in expiry order
    _superseded[key] = _Superseded(identity.tokens_sealed, outcome,
                                   asyncio.get_running_loop().time() + _SUPERSEDED_KEEP_S)


async def _single_flight(rt: Runtime, identity: Identity, tokens: TokenSet, actor: Actor,
                         want: _Want) -> Outcome:
    """Concurrent callers in this process share one task; the database lock covers the rest.
    A cancelled caller does not cancel the refresh others wait for (shield)."""
    key = (id(rt), identity.id, want)
    task = _inflight.get(key)
    if task is None:
        task = asyncio.ensure_future(_refresh(rt, identity.id, tokens, actor, want, now_ms()))
        _inflight[key] = task

        def done(finished: asyncio.Task[Outcome]) -> None:
            if _inflight.get(key) is finished:
                del _inflight[key]
            _remember(rt, identity, want, finished)

        task.add_done_callback(done)
    return await asyncio.shield(task)


# The SQLite lease's wait for another process's refresh: every 5 ms for the first 100 ms, in
# which most upstream refreshes answer (its callers get the fresh set within 5 ms of the
# holder's commit: the refresh storm's p99), then 10, 20, 20 … ms, so that many identities
# waiting at once on a slow upstream cost a few SELECTs a second each. Two SELECTs a poll.
_LEASE_POLL_FIRST_S = 0.005
_LEASE_POLL_FAST_FOR_S = 0.1
_LEASE_POLL_MAX_S = 0.02


def _lock_wait_s(rt: Runtime) -> float:
    return rt.settings.upstream_timeout + 5.0


def _lease_ttl_ms(rt: Runtime) -> int:
    # Longer than any holder can take (the upstream deadline plus SQLite's busy wait), so only
    # a crashed holder's lease ever expires (attack list E6).
    return int((2 * rt.settings.upstream_timeout + 30.0) * 1000)


async def _refresh(rt: Runtime, identity_id: str, tokens: TokenSet, actor: Actor, want: _Want,
                   since_ms: int) -> Outcome:
    if rs.uses_row_locks(rt.store):
        # Once per flight, not once per caller: a failure backoff answers without the lock.
        # (The SQLite lease claim checks it in its own transaction.)
        state = await rs.get_state(rt.store, identity_id)
        if state.not_before is not None and state.not_before > now_ms():
            return _unavailable(tokens, want.force, (state.not_before - now_ms()) / 1000)
        return await _refresh_row_locked(rt, identity_id, actor, want, since_ms)
    return await _refresh_leased(rt, identity_id, actor, want, since_ms)


async def _refresh_row_locked(rt: Runtime, identity_id: str, actor: Actor, want: _Want,
                              since_ms: int) -> Outcome:
    try:
        async with rs.locked(rt.store, identity_id, wait_s=_lock_wait_s(rt)) as held:
            identity = held.identity
            decided = _after_lock(rt, identity, held.state, want, since_ms)
            if decided is not None:
                return decided
            assert identity is not None
            result = await _call_upstream(rt, identity)
            finish = await _write_result(rt, held.conn, identity, result, want.force, owner=None)
    except rs.LockBusy:
        return await _reread(rt, identity_id, want, since_ms, "lock wait timed out")
    await _record(rt, identity, actor, result, finish)
    return finish.outcome


async def _refresh_leased(rt: Runtime, identity_id: str, actor: Actor, want: _Want,
                          since_ms: int) -> Outcome:
    owner = new_id("rl_")
    loop = asyncio.get_running_loop()
    began = loop.time()
    give_up_at = began + _lock_wait_s(rt)
    pause = _LEASE_POLL_FIRST_S
    try:
        claim = await rs.claim_lease(rt.store, identity_id, owner, _lease_ttl_ms(rt))
        while not claim.won:
            # Another process is refreshing (or a failure backoff holds refreshes off): wait
            # for it, then use what it stored (or its failure), never a second upstream call
            # with the same refresh token. Only this process's one task for the identity
            # polls (its callers await the task), so a short back-off costs a few SELECTs
            # per refresh (see _LEASE_POLL_FIRST_S for how often).
            decided = _after_lock(rt, claim.identity, claim.state, want, since_ms)
            if decided is not None:
                return decided
            if loop.time() >= give_up_at:
                return await _reread(rt, identity_id, want, since_ms, "lease wait timed out")
            await asyncio.sleep(pause)
            if loop.time() - began >= _LEASE_POLL_FAST_FOR_S:
                pause = min(pause * 2, _LEASE_POLL_MAX_S)
            identity, state = await rs.get_identity_and_state(rt.store, identity_id)
            if rs.lease_held(state, now_ms()):
                claim = rs.Claim(False, identity, state)
            else:  # released (with a fresh set, or without: then the claim shows why)
                claim = await rs.claim_lease(rt.store, identity_id, owner, _lease_ttl_ms(rt))
    except rs.IdentityGone:
        return Outcome(None, None, IdpTokenMissing(detail="identity deleted"))
    released = False
    try:
        identity = claim.identity
        decided = _after_lock(rt, identity, claim.state, want, since_ms)
        if decided is not None:
            return decided
        assert identity is not None
        result = await _call_upstream(rt, identity)
        async with rt.store.engine.begin() as conn:
            finish = await _write_result(rt, conn, identity, result, want.force, owner=owner)
        released = finish.stored  # its fenced write cleared the lease
    finally:
        if not released:
            await rs.release_lease(rt.store, identity_id, owner)
    await _record(rt, identity, actor, result, finish)
    return finish.outcome


def _after_lock(rt: Runtime, identity: Identity | None, state: rs.RefreshState, want: _Want,
                since_ms: int) -> Outcome | None:
    """The re-read: with the lock held (or while waiting for it), is an upstream call still
    needed?"""
    if identity is None:
        return Outcome(None, None, IdpTokenMissing(detail="identity deleted"))
    tokens = rt.store.open_tokens(identity)
    decided = _decide(rt, identity, tokens, want)
    if decided is not None:
        return decided
    assert tokens is not None
    force = want.force
    if force and state.refreshed_at is not None and state.refreshed_at >= since_ms:
        return Outcome(tokens)  # another refresher renewed it after this caller asked
    if state.failing_since is not None and state.failing_since >= since_ms or (
            state.not_before is not None and state.not_before > now_ms()):
        # Another refresher failed meanwhile: share its answer instead of retrying at once.
        wait = (state.not_before - now_ms()) / 1000 if state.not_before else None
        return _unavailable(tokens, force, wait)
    return None


async def _reread(rt: Runtime, identity_id: str, want: _Want, since_ms: int,
                  why: str) -> Outcome:
    """Nango's rule when the lock cannot be had in time: re-read anyway, and use the token if
    a refresher stored one; otherwise say the refresh is unavailable."""
    log.warning("identity %s: %s", identity_id, why)
    identity = await rs.get_identity(rt.store, identity_id)
    decided = _after_lock(rt, identity, await rs.get_state(rt.store, identity_id), want,
                          since_ms)
    if decided is not None:
        return decided
    assert identity is not None
    tokens = rt.store.open_tokens(identity)
    assert tokens is not None
    return _unavailable(tokens, want.force, None)


# --- the upstream call and what it leaves behind ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Result:
    previous: TokenSet
    fresh: TokenSet | None = None
    failure: IdbrokerError | None = None
    attempts: int = 1


async def _call_upstream(rt: Runtime, identity: Identity) -> _Result:
    """At most 1 + MAX_RETRIES attempts, all within ``upstream_timeout``; 5xx, 429 and
    timeouts back off (honouring Retry-After), anything else ends at once."""
    previous = rt.store.open_tokens(identity)
    assert previous is not None
    assert previous.refresh_token is not None or upstream.renews_with_access_token(
        identity.provider)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rt.settings.upstream_timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            connection = await rt.store.get_connection(identity.connection_id)
            if connection is None:
                raise IdpTokenMissing(detail="connection deleted")
            connector = rt.connector(connection)
            if not upstream.supports_refresh(connector):
                raise upstream.RefreshUnsupported(detail=f"strategy {connection.strategy}")
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(max(remaining, 0.001)):
                    fresh = await upstream.refresh(connector, previous.refresh_token,
                                                   subject=identity.subject, timeout=remaining,
                                                   access_token=previous.access_token)
            except TimeoutError as exc:
                raise upstream.UpstreamRetryLater(detail="refresh: deadline") from exc
            return _Result(previous, fresh=fresh, attempts=attempts)
        except upstream.UpstreamRetryLater as exc:
            delay = exc.retry_after_s
            if delay is None:
                delay = _FIRST_BACKOFF_S * 2 ** (attempts - 1) * (1 + random.random())
            if attempts > MAX_RETRIES or loop.time() + delay >= deadline:
                return _Result(previous, failure=exc, attempts=attempts)
            await asyncio.sleep(delay)
        except (UpstreamError, ConfigurationError) as exc:
            return _Result(previous, failure=exc, attempts=attempts)


@dataclass(frozen=True, slots=True)
class _Finish:
    outcome: Outcome
    stored: bool
    event: str | None = None


async def _write_result(rt: Runtime, conn: Any, identity: Identity, result: _Result,
                        force: bool, *, owner: str | None) -> _Finish:
    """Everything a refresh leaves in the database, in the caller's one transaction."""
    if result.fresh is not None:
        merged = upstream.merge(result.previous, result.fresh, now=now_s(),
                                assumed_lifetime_s=rt.settings.assumed_token_lifetime_s)
        stored = await rs.save_refreshed(conn, rt.store, identity.id, merged, owner=owner)
        if not stored:
            # A login replaced the tokens meanwhile (it fenced us out): its set wins.
            current = await rs.get_identity(rt.store, identity.id)
            tokens = rt.store.open_tokens(current) if current else None
            return _Finish(Outcome(tokens) if tokens and tokens.access_token else
                           Outcome(None, None, IdpTokenMissing(detail="superseded")), False)
        return _Finish(Outcome(merged), True)
    failure = result.failure
    assert failure is not None
    data = {"user_id": identity.user_id, "connection": identity.connection,
            "provider": identity.provider, "identity_user_id": identity.idp_user_id,
            "reason": type(failure).__name__}
    if isinstance(failure, UpstreamTokenRejected):
        stored = await rs.save_reauth_required(conn, identity.id, owner=owner)
        if stored:
            await emit_event(conn, IDENTITY_NEEDS_RECONSENT, data)
        return _Finish(Outcome(None, REAUTH_REQUIRED,
                               IdpTokenNeedsReconsent(detail="upstream invalid_grant")),
                       stored, IDENTITY_NEEDS_RECONSENT if stored else None)
    retry_after = getattr(failure, "retry_after_s", None)
    hold = max(rt.settings.refresh_failure_cooldown_s, retry_after or 0.0)
    first = await rs.save_transient_failure(conn, identity.id, owner=owner,
                                            not_before=now_ms() + int(hold * 1000))
    if first:
        # One event per run of failures, not per attempt: an hour-long outage is one event.
        await emit_event(conn, TOKEN_REFRESH_FAILED, {**data, "retry_after_s": hold})
    outcome = _unavailable(result.previous, force, hold, failure.detail)
    return _Finish(outcome, first is not None, TOKEN_REFRESH_FAILED if first else None)


async def _record(rt: Runtime, identity: Identity, actor: Actor, result: _Result,
                  finish: _Finish) -> None:
    """The audit record and log line of one upstream refresh: who, which identity and
    connection, from where, the outcome. Never a token (lifecycle/audit.py refuses one)."""
    details: dict[str, Any] = {"provider": identity.provider, "via": actor.via,
                               "attempts": result.attempts, "stored": finish.stored}
    failure = result.failure
    if failure is None:
        details.update(result="refreshed", refresh_token_rotated=bool(
            result.fresh is not None and result.fresh.refresh_token))
    else:
        details.update(result=finish.outcome.status or "still_valid", detail=failure.detail,
                       event=finish.event)
    await record_token_event(
        rt.store, action="refresh", outcome="success" if failure is None else "failure",
        client_id=actor.client_id, user_id=identity.user_id, connection=identity.connection,
        identity_id=identity.id, ip=actor.ip, actor=actor.user_id or _SYSTEM.get(actor.via),
        reason=type(failure).__name__ if failure else None, details=details)
    if failure is None:
        log.info("identity %s (%s): token refreshed upstream", identity.id, identity.connection)
    else:
        log.warning("identity %s (%s): token refresh failed: %s (%s) -> %s", identity.id,
                    identity.connection, type(failure).__name__, failure.detail,
                    details["result"])


_SYSTEM = {"refresh_ahead": "system"}
