"""Login transactions: the state of one trip to an upstream IdP, kept server-side (sealed,
found by the state's keyed digest) or carried in a cookie whose state is marked used here
(oauth/login_transaction.py). Either way a state is good for exactly one callback."""

from __future__ import annotations

import hmac
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.vault import schema as t
from idbroker.vault.store_base import StoreBase


def _aad_transaction(state_digest: str) -> str:
    return f"idbroker/login-transaction/{state_digest}"


class LoginTransactionStore(StoreBase):
    async def put_transaction(self, state: str, data: dict[str, Any], ttl_s: int) -> None:
        digest = self.vault.digest("login-state", state)
        sealed = self.vault.seal(json.dumps(data).encode(), _aad_transaction(digest))
        stamp = now_ms()
        async with self.engine.begin() as conn:
            if self._sweep_due("login_transactions"):
                await conn.execute(t.login_transactions.delete().where(
                    t.login_transactions.c.expires_at < stamp))
            await conn.execute(t.login_transactions.insert().values(
                state_digest=digest, sealed=sealed, expires_at=stamp + ttl_s * 1000))

    async def take_transaction(self, state: str,
                               binding: str) -> tuple[dict[str, Any] | None, str]:
        """Return and delete in one step: a state is good for exactly one callback, from the
        browser that started it. A wrong browser does not burn the real one's transaction.
        The second value says why nothing was returned ("unknown", "expired", "browser")."""
        digests = self.vault.digests("login-state", state)
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(t.login_transactions).where(
                t.login_transactions.c.state_digest.in_(digests)))).first()
            if row is None:
                return None, "unknown"
            data = json.loads(self.vault.open(row.sealed, _aad_transaction(row.state_digest)))
            if not hmac.compare_digest(binding, data.get("binding", "")):
                return None, "browser"
            deleted = await conn.execute(t.login_transactions.delete().where(
                t.login_transactions.c.state_digest == row.state_digest))
        if deleted.rowcount != 1:
            return None, "unknown"
        if row.expires_at < now_ms():
            return None, "expired"
        return data, "ok"

    async def consume_login_state(self, state: str, expires_at_ms: int) -> bool:
        """Mark the state of a cookie-carried login transaction (oauth/login_transaction.py)
        used; False if it already was. The primary key (the state's keyed digest) makes the
        first callback win on SQLite and PostgreSQL alike. Markers are swept once the state
        has expired, after which the sealed cookie is refused by its own expiry anyway."""
        digests = self.vault.digests("login-state", state)
        sweep = self._sweep_due("login_states_used")

        def mark(conn: sa.Connection) -> bool:
            if sweep:
                conn.execute(t.login_states_used.delete().where(
                    t.login_states_used.c.expires_at < now_ms()))
            if len(digests) > 1:
                # During a vault-key rotation a marker may carry an older key's digest.
                seen = conn.execute(sa.select(t.login_states_used.c.state_digest).where(
                    t.login_states_used.c.state_digest.in_(digests[1:]))).first()
                if seen is not None:
                    return False
            conn.execute(t.login_states_used.insert(), {
                "state_digest": digests[0], "expires_at": expires_at_ms})
            return True
        try:
            return await self._in_thread(mark)
        except IntegrityError:
            return False

    async def login_state_used(self, state: str) -> bool:
        digests = self.vault.digests("login-state", state)
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.login_states_used.c.state_digest).where(
                t.login_states_used.c.state_digest.in_(digests)))).first()
        return row is not None
