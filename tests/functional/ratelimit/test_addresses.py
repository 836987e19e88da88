"""Which address counts: the peer, unless it is a trusted proxy (pure function)."""

from __future__ import annotations

import ipaddress

from idbroker.ratelimit.addresses import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_untrusted_peer_ignores_forwarded_for() -> None:
    assert client_address("198.51.100.1", ["203.0.113.5"], PROXIES) == "198.51.100.1"
    assert client_address("198.51.100.1", ["203.0.113.5"], ()) == "198.51.100.1"
    assert client_address(None, [], PROXIES) == "unknown"


def test_trusted_proxy_chain_yields_the_rightmost_untrusted_hop() -> None:
    assert client_address("10.0.0.2", ["6.6.6.6, 203.0.113.5, 10.0.0.9"], PROXIES) == "203.0.113.5"
    assert client_address("::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"
    # Only proxies in the chain, or none at all: the peer itself.
    assert client_address("10.0.0.2", ["10.1.1.1"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", [], PROXIES) == "10.0.0.2"
    # Garbage right of any real hop is not trusted to name a client.
    assert client_address("10.0.0.2", ["203.0.113.5, not-an-ip"], PROXIES) == "10.0.0.2"
