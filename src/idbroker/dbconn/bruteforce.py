"""Brute-force protection of password logins (docs/database-connections.md#brute-force-protection).

Auth0's semantics ("count per identifier and IP"), made safe against lock-out:

- Failures are counted per (connection, normalised identifier, address). After
  ``IDBROKER_BRUTE_FORCE_MAX_ATTEMPTS`` consecutive failures, that *address* is blocked for
  that *identifier* — not the account: its owner, elsewhere, still signs in, so an attacker
  cannot lock anyone out. A success from the address resets its count; the owner's password
  reset lifts every block on the account; a block also ends after
  ``IDBROKER_BRUTE_FORCE_BLOCK_S``.
- Failures for identifiers that have no account are counted the same way, so "blocked" says
  nothing about whether an account exists.
- Per address, failures across all identifiers within ``IDBROKER_BRUTE_FORCE_IP_WINDOW_S`` are
  capped at ``IDBROKER_BRUTE_FORCE_IP_LIMIT`` (credential stuffing); over it, every password
  login from that address is refused until the window ends.

Counters live in the database, so every process of a deployment shares them. IPv6 addresses
are counted per /64, the block a single subscriber usually holds.
"""

from __future__ import annotations

import ipaddress

from idbroker.clock import now_ms
from idbroker.errors import TooManyAttempts
from idbroker.runtime import Runtime
from idbroker.vault import password_store

ANY_ACCOUNT = "*"
BLOCKED = "address blocked for this identifier"
OVER_CAP = "address over the failed-login cap"


def address_bucket(ip: str | None) -> str:
    if not ip:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    return str(parsed)


def account_key(rt: Runtime, connection_id: str, identifier: str) -> str:
    # A keyed digest: the table never lists who was tried.
    return rt.store.vault.digest("login-failures", f"{connection_id}\x00{identifier}")


async def refuse_if_blocked(rt: Runtime, account: str, ip: str) -> None:
    """Raise TooManyAttempts when this address is blocked for this identifier, or over the
    per-address cap."""
    settings = rt.settings
    stamp = now_ms()
    row = await password_store.failures_of(rt.store, account, ip)
    if row is not None and row.blocked_at is not None:
        if row.blocked_at + settings.brute_force_block_s * 1000 > stamp:
            raise TooManyAttempts(detail=BLOCKED)
        await password_store.clear_failures(rt.store, account, ip)
    everyone = await password_store.failures_of(rt.store, ANY_ACCOUNT, ip)
    if everyone is not None and everyone.failures >= settings.brute_force_ip_limit \
            and everyone.window_start + settings.brute_force_ip_window_s * 1000 > stamp:
        raise TooManyAttempts(detail=OVER_CAP)


async def record_failure(rt: Runtime, account: str, ip: str) -> tuple[bool, bool]:
    """Count one failure. Returns (this failure blocked the identifier for the address,
    this failure put the address over its cap)."""
    settings = rt.settings
    # Counters idle longer than any block or window are forgotten (the table stays small).
    horizon = max(settings.brute_force_block_s, settings.brute_force_ip_window_s) * 1000
    await password_store.purge_failures(rt.store, now_ms() - horizon)
    row = await password_store.count_failure(
        rt.store, account, ip, window_ms=None, block_at=settings.brute_force_max_attempts)
    everyone = await password_store.count_failure(
        rt.store, ANY_ACCOUNT, ip, window_ms=settings.brute_force_ip_window_s * 1000,
        block_at=settings.brute_force_ip_limit)
    return (row.failures == settings.brute_force_max_attempts,
            everyone.failures == settings.brute_force_ip_limit)


async def record_success(rt: Runtime, account: str, ip: str) -> None:
    await password_store.clear_failures(rt.store, account, ip)


async def unblock(rt: Runtime, accounts: list[str]) -> None:
    """Lift every block on these identifiers, from every address (the owner proved control
    of the mailbox by resetting the password)."""
    for account in accounts:
        await password_store.clear_failures(rt.store, account)
