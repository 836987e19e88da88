"""RS256 signing keys, loaded once and kept as key objects, and their rotation.

Parsing a PEM costs far more than a signature, so keys are parsed at start-up and when the key
set changes only (see perf_anchors.md). The published JWKS holds RSA keys only, each with a
``kid``: auth0-python's JWKS fetcher fails on anything else.

Life of a key: ``next`` (published, not yet signing) → ``current`` (signing) → ``previous``
(published until every token it signed has expired) → ``revoked`` (gone at once). Several
processes share one database, so each process notices a changed key set by a cheap stamp
(polled every few seconds, and at once when a token names a kid it does not know).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey

from idbroker.clock import now_ms
from idbroker.encoding import b64url_decode
from idbroker.errors import BadRequest, Conflict, NotFound
from idbroker.vault import schema as t
from idbroker.vault.store import Store

log = logging.getLogger(__name__)

PUBLISHED = ("current", "next", "previous")
DEFAULT_RETAIN_PREVIOUS_S = 30 * 86_400
_UNKNOWN_KID_COOLDOWN_S = 2.0
_MAX_HEADER_CHARS = 2048


class SigningKeys:
    def __init__(self, retain_previous_s: int = DEFAULT_RETAIN_PREVIOUS_S) -> None:
        self.current: RSAKey | None = None
        self.by_kid: dict[str, RSAKey] = {}
        self.jwks: dict[str, Any] = {"keys": []}
        # Bumped on every reload, so caches of verified tokens know to forget.
        self.generation = 0
        self.retain_previous_s = retain_previous_s
        self._stamp: str | None = None
        self._last_forced = 0.0
        self._watch: asyncio.Task[None] | None = None

    async def load(self, store: Store) -> None:
        async with store.engine.connect() as conn:
            rows = list(await conn.execute(sa.select(
                t.signing_keys.c.kid, t.signing_keys.c.private_sealed, t.signing_keys.c.public_jwk,
                t.signing_keys.c.status, t.signing_keys.c.current_until,
            ).order_by(t.signing_keys.c.created_at)))
        by_kid: dict[str, RSAKey] = {}
        current = None
        published = []
        stamp_rows = []
        for row in rows:
            stamp_rows.append((row.kid, row.status, row.current_until))
            if not self._published(row.status, row.current_until):
                continue
            pem = store.vault.open(row.private_sealed, f"idbroker/signing-key/{row.kid}")
            # Only keys idbroker generated itself are ever stored (add_key), and the vault's
            # AEAD proves this one is such a key: the consistency check loading runs by
            # default (~35 ms per key, at every start of every worker) guards against keys
            # from elsewhere.
            private = serialization.load_pem_private_key(
                pem, None, unsafe_skip_rsa_key_validation=True)
            key = RSAKey.import_key(private, {"kid": row.kid})  # type: ignore[arg-type]
            by_kid[row.kid] = key
            published.append(row.public_jwk)
            if row.status == "current":
                current = key
        self.by_kid, self.current, self.jwks = by_kid, current, {"keys": published}
        self._stamp = self._stamp_of(stamp_rows)
        self.generation += 1

    def _published(self, status: str, current_until: int | None) -> bool:
        if status == "previous":
            # Kept until every token it signed has expired; then it can verify nothing.
            return (current_until or 0) + self.retain_previous_s * 1000 > now_ms()
        return status in PUBLISHED

    def _stamp_of(self, rows: list[tuple[str, str, int | None]]) -> str:
        visible = [(kid, status, self._published(status, until)) for kid, status, until in rows]
        return hashlib.sha256(json.dumps(visible).encode()).hexdigest()

    async def refresh(self, store: Store, *, force: bool = False) -> bool:
        """Reload when the key set changed (another process rotated or revoked); return True
        when it did. Costs one small query without key material."""
        async with store.engine.connect() as conn:
            rows = [(r.kid, r.status, r.current_until) for r in await conn.execute(sa.select(
                t.signing_keys.c.kid, t.signing_keys.c.status, t.signing_keys.c.current_until,
            ).order_by(t.signing_keys.c.created_at))]
        if not force and self._stamp_of(rows) == self._stamp:
            return False
        await self.load(store)
        return True

    async def sync_for(self, store: Store, authorization: str | None) -> None:
        """A bearer token naming a kid we do not know may have been signed by a key another
        process just created: reload once, at most once per cooldown (no reload storm from
        forged kids, security_tests.md A9)."""
        kid = _kid_of_bearer(authorization)
        if kid is None or kid in self.by_kid:
            return
        clock = time.monotonic()
        if clock - self._last_forced < _UNKNOWN_KID_COOLDOWN_S:
            return
        self._last_forced = clock
        await self.refresh(store)

    def start_watch(self, store: Store, interval_s: float) -> None:
        if interval_s <= 0 or self._watch is not None:
            return

        async def watch() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await self.refresh(store)
                except Exception as exc:  # noqa: BLE001 — keep serving with the keys we have
                    log.warning("signing key refresh failed: %s", type(exc).__name__)

        self._watch = asyncio.get_running_loop().create_task(watch())

    async def stop_watch(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    async def ensure(self, store: Store) -> bool:
        """Create the first key when there is none; return True when one was created."""
        await self.load(store)
        if self.current is not None:
            return False
        await add_key(store, "current")
        await self.load(store)
        return True


def _kid_of_bearer(authorization: str | None) -> str | None:
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    head = authorization[7:].strip().split(".", 1)[0]
    if len(head) > _MAX_HEADER_CHARS:
        return None
    return _kid_of_header(head)


@functools.lru_cache(maxsize=256)
def _kid_of_header(head: str) -> str | None:
    # Every token one key signs carries the same header: decode it once, not per request.
    try:
        header = json.loads(b64url_decode(head))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) and len(kid) <= 64 else None


def _certificate(key: RSAKey, subject: str) -> str:
    private = serialization.load_pem_private_key(key.as_pem(private=True), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject[:64] or "idbroker")])
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .sign(private, hashes.SHA256()))  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def add_key(store: Store, status: str, subject: str = "idbroker") -> str:
    async with store.engine.begin() as conn:
        return await _insert_key(conn, store, status, subject)


async def _insert_key(conn: Any, store: Store, status: str, subject: str) -> str:
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": "RS256"}
    stamp = now_ms()
    await conn.execute(t.signing_keys.insert().values(
        kid=kid, private_sealed=store.vault.seal(key.as_pem(private=True),
                                                 f"idbroker/signing-key/{kid}"),
        public_jwk=public, status=status, created_at=stamp, cert_pem=_certificate(key, subject),
        current_since=stamp if status == "current" else None))
    return kid


async def rotate(store: Store, subject: str) -> str:
    """Promote ``next`` to ``current`` (or create a current when there is no next), demote the
    old current to ``previous``, and publish a fresh ``next``. Returns the new current kid."""
    stamp = now_ms()
    async with store.engine.begin() as conn:
        rows = {r.kid: r.status for r in await conn.execute(
            sa.select(t.signing_keys.c.kid, t.signing_keys.c.status).where(
                t.signing_keys.c.status.in_(("current", "next"))))}
        old = [kid for kid, status in rows.items() if status == "current"]
        upcoming = [kid for kid, status in rows.items() if status == "next"]
        for kid in old:
            # Conditional: two processes rotating at once cannot both demote the same key.
            done = await conn.execute(t.signing_keys.update().where(
                t.signing_keys.c.kid == kid, t.signing_keys.c.status == "current").values(
                status="previous", current_until=stamp))
            if done.rowcount != 1:
                raise Conflict("The signing keys are being rotated", error_code="conflict")
        if upcoming:
            new_kid = upcoming[0]
            await conn.execute(t.signing_keys.update().where(
                t.signing_keys.c.kid == new_kid).values(status="current", current_since=stamp))
        else:
            new_kid = await _insert_key(conn, store, "current", subject)
        await _insert_key(conn, store, "next", subject)
    return new_kid


async def revoke(store: Store, kid: str) -> None:
    """Only a previous key can be revoked: the current one must be rotated away first, and
    the next one has signed nothing yet."""
    async with store.engine.begin() as conn:
        status = (await conn.execute(sa.select(t.signing_keys.c.status).where(
            t.signing_keys.c.kid == kid))).scalar_one_or_none()
        if status is None:
            raise NotFound("The signing key does not exist", error_code="inexistent_signing_key")
        if status in ("current", "next"):
            raise BadRequest(f"The {status} signing key cannot be revoked; rotate first",
                             error_code="invalid_operation")
        if status == "previous":
            await conn.execute(t.signing_keys.update().where(
                t.signing_keys.c.kid == kid, t.signing_keys.c.status == "previous").values(
                status="revoked", revoked_at=now_ms()))


async def list_public(store: Store) -> list[dict[str, Any]]:
    """Every key's public parts and life dates; never the sealed private key."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(
            t.signing_keys.c.kid, t.signing_keys.c.public_jwk, t.signing_keys.c.status,
            t.signing_keys.c.cert_pem, t.signing_keys.c.current_since,
            t.signing_keys.c.current_until, t.signing_keys.c.revoked_at,
            t.signing_keys.c.created_at).order_by(t.signing_keys.c.created_at))
        return [dict(row._mapping) for row in rows]
