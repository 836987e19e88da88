"""The login transaction: what /authorize must remember until the upstream sends the person
back to {issuer}login/callback (the app's request, our upstream nonce and PKCE verifier, the
connector's state), and the proof that the callback comes from the browser that started it.

It travels in the browser, sealed (AES-256-GCM under the vault key) into the binding cookie,
as Ory Hydra carries its login state: /authorize writes nothing to the database. The sealed
value's associated data is the state, so a cookie opens only for its own transaction, and the
cookie (HttpOnly, SameSite=Lax, Path=/login/callback) is what binds the transaction to the
browser: another browser has no such cookie and cannot forge one. The expiry is sealed in it.

What a cookie cannot give is single use: a replayed callback could present the cookie again.
So the first callback writes a marker row under the state's keyed digest (login_states_used)
*before* any upstream call, and a second one finds the marker and is
refused (attack list C1). A wrong browser, or an expired transaction, writes nothing, so it
cannot burn the real browser's transaction.

Two cases keep the server-side row (``Store.put_transaction``): a transaction too large for a
cookie (long request parameters), and any state without the cookie marker suffix. The state
says which it is, so a callback without its cookie is told "another browser" rather than
"expired", as before.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from typing import Any

from idbroker.clock import now_ms
from idbroker.errors import VaultError
from idbroker.runtime import Runtime

# Not in the base64url alphabet of the random part: only our own states end with it.
COOKIE_STATE_SUFFIX = ".c"
SEALED_PREFIX = "s1."
# Browsers keep cookies of up to 4096 bytes, name and attributes included.
MAX_SEALED_CHARS = 3500


def cookie_name(state: str) -> str:
    return f"idb_tx_{state[:12]}"


def new_state() -> str:
    return secrets.token_urlsafe(32) + COOKIE_STATE_SUFFIX


def _aad(state: str) -> str:
    return f"idbroker/login-transaction-cookie/{state}"


async def begin(rt: Runtime, state: str, data: dict[str, Any]) -> str:
    """Seal ``data`` for ``state``; return the binding cookie's value."""
    ttl = rt.settings.login_transaction_ttl
    sealed = rt.store.vault.seal(
        json.dumps({**data, "expires_at": now_ms() + ttl * 1000}).encode(), _aad(state))
    value = SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")
    if len(value) <= MAX_SEALED_CHARS:
        return value
    binding = secrets.token_urlsafe(24)
    await rt.store.put_transaction(state, {**data, "binding": binding}, ttl)
    return binding


async def take(rt: Runtime, state: str,
               cookies: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    """The transaction, taken for good; or None and why ("unknown", "used", "expired",
    "browser")."""
    value = cookies.get(cookie_name(state), "")
    if value.startswith(SEALED_PREFIX) and state.endswith(COOKIE_STATE_SUFFIX):
        return await _take_sealed(rt, state, value.removeprefix(SEALED_PREFIX))
    tx, why = await rt.store.take_transaction(state, value)
    if tx is None and why == "unknown" and state.endswith(COOKIE_STATE_SUFFIX) and not value:
        # Our cookie-carried state, presented without its cookie: this browser after the
        # callback cleared it (a replay), or another browser.
        why = "used" if await rt.store.login_state_used(state) else "browser"
    return tx, why


async def _take_sealed(rt: Runtime, state: str, value: str) -> tuple[dict[str, Any] | None, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(rt.store.vault.open(raw, _aad(state)))
    except (ValueError, VaultError):
        # Not this transaction's cookie (another one's, or forged).
        return None, "browser"
    expires_at = int(data.pop("expires_at"))
    if expires_at < now_ms():
        return None, "expired"
    if not await rt.store.consume_login_state(state, expires_at):
        return None, "used"
    return data, "ok"
