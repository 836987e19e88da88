"""Which address a request comes from, for rate-limit buckets.

``X-Forwarded-For`` is anyone's to write, so it is read only when the peer itself is a
trusted proxy (IDBROKER_TRUSTED_PROXIES); then the client is the right-most hop that is not
one of our proxies. Otherwise a spoofed header would move a caller into a fresh bucket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(peer: str | None, forwarded_for: Sequence[str],
                   proxies: Sequence[Network]) -> str:
    if peer is None:
        return "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            # Garbage in the chain: stop trusting it, count the last good proxy's caller.
            return peer
        if not _trusted(hop, proxies):
            return hop
    return peer
