"""Brute-force protection: per (identifier, address) blocks that never lock the owner out,
the same for accounts that do not exist, lifted by a password reset; a per-address cap."""

from __future__ import annotations

from typing import Any

import httpx

from tests.functional.dbconnections.conftest import (
    APP_ORIGIN, ORIGIN, PASSWORD, client_at, co_authenticate, database_connection, link_in, outbox,
    signup, ticket_of,
)
from tests.support import Broker

TOO_MANY = "too_many_attempts"


async def _fail(http: httpx.AsyncClient, app: dict[str, Any], username: str, times: int) -> None:
    for _ in range(times):
        response = await co_authenticate(http, app, username, "Wrong-Passw0rd")
        assert response.status_code == 403, response.text


async def test_failures_block_the_address_for_that_identifier_only(
        broker: Broker, app: dict[str, Any], db: dict[str, Any],
        elsewhere: httpx.AsyncClient) -> None:
    broker.runtime.settings.brute_force_max_attempts = 3
    await signup(broker, app)
    await _fail(broker.http, app, "jane@example.com", 3)
    blocked = await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)
    assert blocked.status_code == 429 and blocked.json()["error"] == TOO_MANY
    assert blocked.headers["access-control-allow-origin"] == APP_ORIGIN
    # The owner, from another address, still signs in: an attacker cannot lock them out.
    assert (await co_authenticate(elsewhere, app, "jane@example.com", PASSWORD)).status_code \
        == 200
    # Other identifiers from the blocked address are unaffected.
    assert (await co_authenticate(broker.http, app, "ann@example.com", "x")).status_code == 403

    # An identifier without an account is blocked the same way: a block says nothing about
    # whether the account exists.
    await _fail(broker.http, app, "ghost@example.com", 3)
    ghost = await co_authenticate(broker.http, app, "ghost@example.com", PASSWORD)
    assert ghost.status_code == 429 and ghost.content == blocked.content

    types = [e["type"] for e in (await broker.mgmt("GET", "logs", params={"per_page": 100})).json()]
    assert "limit_wc" in types


async def test_a_password_reset_lifts_the_block_and_a_success_resets_the_count(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    broker.runtime.settings.brute_force_max_attempts = 3
    await signup(broker, app)
    await _fail(broker.http, app, "jane@example.com", 2)
    assert (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).status_code \
        == 200
    await _fail(broker.http, app, "jane@example.com", 2)
    assert (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).status_code \
        == 200

    await _fail(broker.http, app, "jane@example.com", 3)
    assert (await co_authenticate(broker.http, app, "jane@example.com",
                                  PASSWORD)).status_code == 429
    await broker.http.post("/dbconnections/change_password", json={
        "client_id": app["client_id"], "email": "jane@example.com", "connection": "Users"})
    link = link_in(outbox(broker)[-1], "lo/reset")
    done = await broker.http.post("/lo/reset", headers={"Origin": ORIGIN}, data={
        "ticket": ticket_of(link), "password": "After-Reset-1",
        "password_confirm": "After-Reset-1"})
    assert done.status_code == 200, done.text
    assert (await co_authenticate(broker.http, app, "jane@example.com",
                                  "After-Reset-1")).status_code == 200


async def test_an_address_failing_across_many_identifiers_is_refused(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    broker.runtime.settings.brute_force_ip_limit = 4
    await signup(broker, app)
    async with client_at(broker, "203.0.113.9") as stuffer:
        for n in range(4):
            await _fail(stuffer, app, f"user{n}@example.com", 1)
        refused = await co_authenticate(stuffer, app, "jane@example.com", PASSWORD)
        assert refused.status_code == 429 and refused.json()["error"] == TOO_MANY
    types = [e["type"] for e in (await broker.mgmt("GET", "logs", params={"per_page": 100})).json()]
    assert types.count("limit_mu") == 2  # when the cap was reached, and the refusal
    assert (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).status_code \
        == 200


async def test_ipv6_addresses_share_their_64_bit_prefix(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    broker.runtime.settings.brute_force_max_attempts = 2
    await signup(broker, app)
    async with client_at(broker, "2001:db8:1:2::10") as first, \
            client_at(broker, "2001:db8:1:2::99") as same_prefix, \
            client_at(broker, "2001:db8:1:3::10") as other_prefix:
        await _fail(first, app, "jane@example.com", 1)
        await _fail(same_prefix, app, "jane@example.com", 1)
        assert (await co_authenticate(first, app, "jane@example.com",
                                      PASSWORD)).status_code == 429
        assert (await co_authenticate(other_prefix, app, "jane@example.com",
                                      PASSWORD)).status_code == 200


async def test_brute_force_protection_can_be_turned_off_per_connection(
        broker: Broker, app: dict[str, Any]) -> None:
    broker.runtime.settings.brute_force_max_attempts = 2
    await database_connection(broker, [app["client_id"]], brute_force_protection=False)
    await signup(broker, app)
    await _fail(broker.http, app, "jane@example.com", 3)
    assert (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).status_code \
        == 200


async def test_password_endpoints_have_their_own_tighter_rate_limit(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    from idbroker.settings import RateLimit
    broker.runtime.settings.rate_limits.groups["password"] = RateLimit(limit=2, window=3600)
    for _ in range(2):
        response = await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)
        assert response.status_code == 403 and response.headers["x-ratelimit-limit"] == "2"
    limited = await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)
    assert limited.status_code == 429 and limited.json()["error"] == "too_many_requests"
    # Other groups keep their own budget.
    assert (await broker.http.get("/.well-known/jwks.json")).status_code == 200


async def test_administrators_see_and_lift_blocks_through_user_blocks(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    from urllib.parse import quote
    broker.runtime.settings.brute_force_max_attempts = 2
    user_id = "auth0|" + (await signup(broker, app)).json()["_id"]
    await _fail(broker.http, app, "jane@example.com", 2)
    await _fail(broker.http, app, "ghost@example.com", 2)
    path = f"user-blocks/{quote(user_id, safe='')}"
    listed = await broker.mgmt("GET", path)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"blocked_for": [
        {"identifier": "jane@example.com", "ip": "127.0.0.1", "connection": "Users"}]}
    by_identifier = await broker.mgmt("GET", "user-blocks",
                                      params={"identifier": "Ghost@example.com"})
    assert [b["identifier"] for b in by_identifier.json()["blocked_for"]] == ["ghost@example.com"]
    assert (await broker.mgmt("GET", "user-blocks")).status_code == 400
    assert (await broker.mgmt("GET", "user-blocks/auth0%7Cnobody")).status_code == 404

    assert (await broker.mgmt("DELETE", path)).status_code == 204
    assert (await broker.mgmt("GET", path)).json() == {"blocked_for": []}
    assert (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).status_code \
        == 200
    assert (await broker.mgmt("DELETE", "user-blocks",
                              params={"identifier": "ghost@example.com"})).status_code == 204
    assert (await broker.mgmt("GET", "user-blocks",
                              params={"identifier": "ghost@example.com"})).json() == {
        "blocked_for": []}
