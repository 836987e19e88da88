"""Vault key rotation: re-seal every sealed value under the ring's first key.

Resumable by construction: a ciphertext's header names the key it was sealed under, so rows
already re-sealed are recognised and skipped, and nothing needs remembering between runs.
Each row is replaced by a conditional UPDATE (WHERE the ciphertext is still the one we read),
so a concurrent writer's value is never overwritten; rows committed batch by batch, so a run
killed at any point leaves every row sealed under a key of the ring — the old one or the new.

Digests (client secrets, codes, refresh tokens, login states) cannot be re-made without the
secret they digest, so an old key keeps verifying them until they expire or are rotated;
``key_usage`` counts both kinds so ``idbroker vault retire-key`` can refuse a key still in use.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from idbroker.clock import now_ms
from idbroker.errors import VaultError
# The revocation outbox's AAD lives with the outbox writer; importing it (rather than copying
# the format string) keeps the two from drifting apart.
from idbroker.lifecycle.outbox import revocation_aad
from idbroker.vault import schema as t
from idbroker.vault.crypto import digest_key_id, sealed_header, sealed_key_id
from idbroker.vault.event_store import endpoint_secret_aad
from idbroker.vault.store import (
    Store, _aad_connection, _aad_signing_key, _aad_transaction, identity_aad,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SealedColumn:
    """A column of ciphertexts, with the row key its associated data is made from."""

    table: sa.Table
    key: str
    column: str
    aad: Callable[[Any], str]

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column}"


@dataclass(frozen=True)
class DigestColumn:
    """A column of keyed digests; ``live`` selects the rows whose secret can still be used."""

    table: sa.Table
    column: str
    live: Callable[[int], Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column}"


# Every sealed column of the schema. A new one must be added here, or rotation would leave it
# under the old key and retire-key would not see it (tests/functional/vault checks the list
# against the schema).
SEALED_COLUMNS: list[SealedColumn] = [
    SealedColumn(t.identities, "id", "tokens_sealed", identity_aad),
    SealedColumn(t.connections, "id", "secrets_sealed", _aad_connection),
    SealedColumn(t.signing_keys, "kid", "private_sealed", _aad_signing_key),
    SealedColumn(t.login_transactions, "state_digest", "sealed", _aad_transaction),
    SealedColumn(t.revocation_outbox, "id", "tokens_sealed", revocation_aad),
    SealedColumn(t.event_endpoints, "id", "secret_sealed", endpoint_secret_aad),
]

DIGEST_COLUMNS: list[DigestColumn] = [
    DigestColumn(t.clients, "secret_digest"),
    DigestColumn(t.refresh_tokens, "token_digest", lambda now: sa.and_(
        t.refresh_tokens.c.used.is_(False), t.refresh_tokens.c.expires_at > now)),
    DigestColumn(t.authorization_codes, "code_digest", lambda now: sa.and_(
        t.authorization_codes.c.consumed.is_(False), t.authorization_codes.c.expires_at > now)),
    DigestColumn(t.login_transactions, "state_digest",
                 lambda now: t.login_transactions.c.expires_at > now),
    # A marker under a retired key would let its (unexpired) state be used once more.
    DigestColumn(t.login_states_used, "state_digest",
                 lambda now: t.login_states_used.c.expires_at > now),
    DigestColumn(t.sessions, "cookie_digest", lambda now: sa.and_(
        t.sessions.c.idle_expires_at > now, t.sessions.c.expires_at > now)),
    DigestColumn(t.credential_tickets, "digest", lambda now: sa.and_(
        t.credential_tickets.c.consumed.is_(False), t.credential_tickets.c.expires_at > now)),
    DigestColumn(t.credential_tickets, "binding_digest", lambda now: sa.and_(
        t.credential_tickets.c.consumed.is_(False), t.credential_tickets.c.expires_at > now)),
]


@dataclass
class RotationReport:
    target_key_id: str
    resealed: int = 0
    # Rows a concurrent writer changed between our read and our write: left as written
    # (a later pass picks them up if they are still under an old key).
    conflicts: int = 0
    # Rows that do not open under any key of the ring (unknown key or tampering): left as is.
    unreadable: list[str] = field(default_factory=list)
    remaining: int = 0


class FaultInjector:
    """Test hook: SIGKILL this process after ``after`` row updates (before their commit)."""

    def __init__(self, after: int | None) -> None:
        self.after = after
        self.count = 0

    def tick(self) -> None:
        if self.after is not None and self.count >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)


def _header(col: SealedColumn) -> Any:
    c = col.table.c[col.column]
    return sa.func.substr(c, 1, 2 + 12)


async def key_usage(store: Store) -> dict[str, dict[str, int]]:
    """For each key id: how many sealed values and live digests still depend on it."""
    usage: dict[str, dict[str, int]] = {}
    now = now_ms()
    async with store.engine.connect() as conn:
        for col in SEALED_COLUMNS:
            header = _header(col)
            rows = await conn.execute(sa.select(header, sa.func.count()).where(
                col.table.c[col.column].is_not(None)).group_by(header))
            for head, count in rows:
                kid = sealed_key_id(bytes(head)) or "?"
                usage.setdefault(kid, {})[col.label] = count
        for dcol in DIGEST_COLUMNS:
            c = dcol.table.c[dcol.column]
            prefix = sa.func.substr(c, 1, 13)
            query = sa.select(prefix, sa.func.count()).where(c.is_not(None)).group_by(prefix)
            if dcol.live is not None:
                query = query.where(dcol.live(now))
            for head, count in await conn.execute(query):
                kid = digest_key_id(head) or "?"
                usage.setdefault(kid, {})[dcol.label] = count
    return usage


def sealed_total(usage: dict[str, int]) -> int:
    labels = {c.label for c in SEALED_COLUMNS}
    return sum(n for label, n in usage.items() if label in labels)


def digest_total(usage: dict[str, int]) -> int:
    labels = {c.label for c in DIGEST_COLUMNS}
    return sum(n for label, n in usage.items() if label in labels)


async def pending(store: Store) -> int:
    """Sealed values under a key of the ring other than the sealing key (what a run converts)."""
    usage = await key_usage(store)
    ring = set(store.vault.key_ids[1:])
    return sum(sealed_total(u) for kid, u in usage.items() if kid in ring)


async def read_batch(store: Store, col: SealedColumn, after: Any,
                     limit: int) -> list[tuple[Any, bytes]]:
    """The next rows (by key, after ``after``) not yet sealed under the sealing key."""
    key, sealed = col.table.c[col.key], col.table.c[col.column]
    target = sealed_header(store.vault.current_key_id)
    query = sa.select(key, sealed).where(sealed.is_not(None), _header(col) != target)
    if after is not None:
        query = query.where(key > after)
    async with store.engine.connect() as conn:
        rows = await conn.execute(query.order_by(key).limit(limit))
        return [(row[0], bytes(row[1])) for row in rows]


async def reseal_batch(store: Store, col: SealedColumn, batch: list[tuple[Any, bytes]],
                       report: RotationReport, fault: FaultInjector | None = None) -> None:
    """Re-seal one batch in one transaction, each row only if it is still what we read."""
    work: list[tuple[Any, bytes, bytes]] = []
    for row_key, blob in batch:
        try:
            plain = store.vault.open(blob, col.aad(row_key))
        except VaultError as exc:
            # Never guess and never delete: the row stays as it is, and is reported.
            log.error("%s %s does not open (%s); left unchanged", col.label, row_key, exc.detail)
            report.unreadable.append(f"{col.label}:{row_key}")
            continue
        work.append((row_key, blob, store.vault.seal(plain, col.aad(row_key))))
    if not work:
        return
    key, sealed = col.table.c[col.key], col.table.c[col.column]
    async with store.engine.begin() as conn:
        for row_key, old, new in work:
            if fault is not None:
                fault.tick()
            result = await conn.execute(col.table.update().where(
                key == row_key, sealed == old).values({col.column: new}))
            if result.rowcount == 1:
                report.resealed += 1
            else:
                report.conflicts += 1
            if fault is not None:
                fault.count += 1


async def rotate(store: Store, *, batch_size: int = 200,
                 progress: Callable[[int], None] | None = None,
                 fault: FaultInjector | None = None, max_passes: int = 3) -> RotationReport:
    """Re-seal every value not under the sealing key. Safe to interrupt and to run again."""
    report = RotationReport(target_key_id=store.vault.current_key_id)
    if fault is not None:
        fault.tick()
    for _ in range(max_passes):
        skipped = len(report.unreadable)
        for col in SEALED_COLUMNS:
            after: Any = None
            while True:
                batch = await read_batch(store, col, after, batch_size)
                if not batch:
                    break
                after = batch[-1][0]
                await reseal_batch(store, col, batch, report, fault)
                if progress is not None:
                    progress(len(batch))
        report.remaining = await pending(store)
        # Another pass only helps with rows a stale writer sealed under an old key meanwhile.
        if report.remaining == 0 or len(report.unreadable) > skipped:
            break
    return report


async def clients_on_key(store: Store, key_id: str) -> list[str]:
    """Clients whose secret is verified by ``key_id`` (rotating their secret frees the key)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(t.clients.c.client_id).where(
            t.clients.c.secret_digest.like(f"{key_id}.%")).order_by(t.clients.c.client_id))
        return list(rows.scalars())
