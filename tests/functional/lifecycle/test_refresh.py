"""Refresh on read, single-flight (issue 4 item 1; security_tests.md E5, E8): a stale IdP
token is renewed upstream before `GET /api/v2/users/{id}` answers, exactly once however many
readers ask at the same time, and the rotated refresh token is the one stored."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from idbroker.clock import now_s
from idbroker.errors import IdpTokenMissing
from idbroker.lifecycle.refresh import AUDIT_REFRESHED, Actor, fresh_token_set
from idbroker.vault import schema as t
from idbroker.vault.refresh_store import get_identity
from tests.support import Broker

ALICE = "oidc|acme-oidc|alice"
READER_SCOPES = ["read:users", "read:user_idp_tokens"]


@dataclass
class World:
    app: dict[str, Any]
    reader: str
    identity_id: str
    login_tokens: dict[str, Any]  # the upstream's token response at login
    token_calls: int  # upstream /token calls so far (the login's code exchange)

    def refreshes(self, broker: Broker) -> int:
        return broker.upstream.calls["token"] - self.token_calls


async def signed_in(broker: Broker, **connection_options: Any) -> World:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]], **connection_options)
    await broker.login(app)
    reader = await broker.mgmt_token(READER_SCOPES)
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None
    return World(app, reader, user.identities[0].id, broker.upstream.issued[-1],
                 broker.upstream.calls["token"])


async def expire(broker: Broker, identity_id: str, *, seconds_ago: int = 10) -> None:
    """Make the stored access token expired (the upstream's own clock is left alone)."""
    await store_tokens(broker, identity_id, expires_at=now_s() - seconds_ago)


async def store_tokens(broker: Broker, identity_id: str, **changes: Any) -> None:
    """Change fields of the identity's stored token set, sealed as the store seals it."""
    store = broker.runtime.store
    identity = await get_identity(store, identity_id)
    assert identity is not None
    tokens = store.open_tokens(identity)
    assert tokens is not None
    for name, value in changes.items():
        setattr(tokens, name, value)
    async with store.engine.begin() as conn:
        await conn.execute(t.identities.update().where(t.identities.c.id == identity_id).values(
            **store._sealed_tokens(identity_id, tokens)))


async def hold_lease(broker: Broker, identity_id: str, owner: str, until_ms: int) -> None:
    """Another process's refresh lease on the identity (SQLite)."""
    async with broker.runtime.store.engine.begin() as conn:
        await conn.execute(t.identity_refresh.insert().values(
            identity_id=identity_id, lease_owner=owner, attempts=0, lease_until=until_ms))


async def read_identity(broker: Broker, token: str) -> dict[str, Any]:
    response = await broker.user(ALICE, token)
    assert response.status_code == 200, response.text
    identity: dict[str, Any] = response.json()["identities"][0]
    return identity


async def rows(broker: Broker, table: sa.Table) -> list[dict[str, Any]]:
    async with broker.runtime.store.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(sa.select(table))]


async def test_stale_token_is_refreshed_once_and_the_rotated_refresh_token_kept(
        broker: Broker) -> None:
    world = await signed_in(broker)
    fresh = await read_identity(broker, world.reader)
    assert fresh["access_token"] == world.login_tokens["access_token"]
    assert world.refreshes(broker) == 0  # a fresh token is served as stored

    await expire(broker, world.identity_id)
    renewed = await read_identity(broker, world.reader)
    issued = broker.upstream.issued[-1]
    assert world.refreshes(broker) == 1
    assert renewed["access_token"] == issued["access_token"] != fresh["access_token"]
    assert renewed["refresh_token"] == issued["refresh_token"] != fresh["refresh_token"]
    assert 3500 < renewed["expires_in"] <= 3600
    assert "token_status" not in renewed

    again = await read_identity(broker, world.reader)
    assert again["access_token"] == renewed["access_token"] and world.refreshes(broker) == 1
    # The old refresh token is burnt upstream (rotation), so serving the stored one matters.
    assert broker.upstream.idp.tokens[fresh["refresh_token"]].revoked

    audit = [r for r in await rows(broker, t.audit_log) if r["type"] == AUDIT_REFRESHED]
    assert len(audit) == 1
    record = audit[0]
    assert record["user_id"] == ALICE and record["connection"] == "acme-oidc"
    assert record["client_id"] and record["details"]["via"] == "management_api"
    assert record["details"]["result"] == "refreshed"
    flat = str(record)
    for value in (fresh["access_token"], fresh["refresh_token"], issued["access_token"],
                  issued["refresh_token"], issued["id_token"]):
        assert value not in flat


async def test_fifty_concurrent_reads_cause_one_upstream_refresh(broker: Broker) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    broker.upstream.hooks.token_delay = 0.2  # every reader arrives while the refresh runs
    answers = await asyncio.gather(*(read_identity(broker, world.reader) for _ in range(50)))
    issued = broker.upstream.issued[-1]
    assert world.refreshes(broker) == 1
    assert {a["access_token"] for a in answers} == {issued["access_token"]}
    assert {a["refresh_token"] for a in answers} == {issued["refresh_token"]}
    assert all("token_status" not in a for a in answers)


async def test_two_runtimes_on_one_database_refresh_once(broker: Broker) -> None:
    """Two brokers (processes in production) share the database, not memory: the lock in
    the database alone keeps them to one upstream refresh."""
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    broker.upstream.hooks.token_delay = 0.2
    from idbroker.runtime import Runtime

    transport = httpx.ASGITransport(app=broker.upstream.app)
    from tests.fakes.routing_transport import RoutingTransport

    http = httpx.AsyncClient(transport=RoutingTransport({broker.upstream.host: transport}))
    other = await Runtime.start(broker.runtime.settings, http=http, apply_migrations=False)
    try:
        actor = Actor(client_id="test", via="test")
        sets = await asyncio.gather(*(
            fresh_token_set(rt, world.identity_id, actor=actor)
            for rt in [broker.runtime, other] * 10))
    finally:
        await other.close()
        await http.aclose()
    assert world.refreshes(broker) == 1
    assert {s.access_token for s in sets} == {broker.upstream.issued[-1]["access_token"]}


async def test_missing_refresh_token_is_kept_and_missing_expiry_is_assumed(
        broker: Broker) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    broker.upstream.hooks.omit_refresh_token = True
    broker.upstream.hooks.omit_expires_in = True
    renewed = await read_identity(broker, world.reader)
    assert world.refreshes(broker) == 1
    assert renewed["access_token"] == broker.upstream.issued[-1]["access_token"]
    assert renewed["refresh_token"] == world.login_tokens["refresh_token"]  # E8
    assumed = broker.runtime.settings.assumed_token_lifetime_s
    assert assumed - 100 < renewed["expires_in"] <= assumed


async def test_force_refreshes_a_fresh_token_and_unknown_identity_is_missing(
        broker: Broker) -> None:
    world = await signed_in(broker)
    actor = Actor(client_id="test", via="test")
    same = await fresh_token_set(broker.runtime, world.identity_id, actor=actor)
    assert same.access_token == world.login_tokens["access_token"] and world.refreshes(broker) == 0
    forced = await fresh_token_set(broker.runtime, world.identity_id, actor=actor, force=True)
    assert forced.access_token == broker.upstream.issued[-1]["access_token"]
    assert world.refreshes(broker) == 1
    with pytest.raises(IdpTokenMissing):
        await fresh_token_set(broker.runtime, "idn_doesnotexist", actor=actor)


async def test_a_caller_without_the_token_scope_never_triggers_a_refresh(broker: Broker) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    plain = await broker.mgmt_token(["read:users"])
    identity = await read_identity(broker, plain)
    assert world.refreshes(broker) == 0
    assert not {"access_token", "refresh_token", "expires_in"} & identity.keys()
    assert identity["scopes"] == ["openid", "profile", "email", "offline_access"]


async def test_a_slow_upstream_refresh_does_not_hold_other_users(broker: Broker) -> None:
    world = await signed_in(broker)
    broker.upstream.set_login("bob")
    await broker.login(world.app)
    world.token_calls = broker.upstream.calls["token"]
    await expire(broker, world.identity_id)
    broker.upstream.hooks.token_delay = 1.0  # Alice's refresh is slow (within the deadline)
    alice = asyncio.ensure_future(read_identity(broker, world.reader))
    while world.refreshes(broker) == 0:  # Alice's refresh is now in flight upstream
        await asyncio.sleep(0.01)
    bob = await broker.user("oidc|acme-oidc|bob", world.reader)
    assert bob.status_code == 200 and bob.json()["identities"][0]["access_token"]
    assert not alice.done()  # Bob was answered while Alice's refresh was still running
    assert (await alice)["access_token"] == broker.upstream.issued[-1]["access_token"]


async def test_a_crashed_refreshers_expired_lease_is_taken_over(broker: Broker) -> None:
    """E6 on SQLite: a refresher died holding the lease; once its lease has run out the next
    reader takes it, re-reads and refreshes once. (On PostgreSQL the row lock dies with the
    crashed holder's connection; nothing is left to take over.)"""
    if broker.runtime.store.engine.dialect.name != "sqlite":
        pytest.skip("the lease is SQLite's lock")
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    await hold_lease(broker, world.identity_id, "rl_crashed", now_s() * 1000 - 1)
    identity = await read_identity(broker, world.reader)
    assert identity["access_token"] == broker.upstream.issued[-1]["access_token"]
    assert world.refreshes(broker) == 1
    state = (await rows(broker, t.identity_refresh))[0]
    assert state["lease_owner"] is None and state["refreshed_at"] is not None


async def test_a_reader_waiting_on_another_process_lease_polls_often_then_backs_off(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: while another process holds the lease, this process's one waiting task polls
    every 5 ms for the first 100 ms (most refreshes land by then, and its readers get the
    fresh set within a poll: the refresh storm's p99), then every 10, 20, 20 … ms; it serves
    what the holder stored and never calls the upstream itself."""
    if broker.runtime.store.engine.dialect.name != "sqlite":
        pytest.skip("the lease is SQLite's lock (PostgreSQL waiters block on the row lock)")
    from idbroker.lifecycle import refresh as refresh_module
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    await hold_lease(broker, world.identity_id, "rl_other_process", now_s() * 1000 + 60_000)
    loop = asyncio.get_running_loop()
    pauses: list[tuple[float, float]] = []  # (seconds waited so far, pause asked for)

    class _Sleeps:
        """The refresh module's asyncio, with its sleeps recorded."""

        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        @staticmethod
        async def sleep(delay: float) -> None:
            pauses.append((loop.time() - began, delay))
            await asyncio.sleep(delay)

    monkeypatch.setattr(refresh_module, "asyncio", _Sleeps())
    began = loop.time()
    reading = asyncio.ensure_future(read_identity(broker, world.reader))
    while loop.time() - began < 0.25:
        await asyncio.sleep(0.01)
    assert not reading.done()
    # The other process stores its fresh set and releases the lease.
    await store_tokens(broker, world.identity_id, access_token="at-from-the-other-process",
                       expires_at=now_s() + 3600)
    async with broker.runtime.store.engine.begin() as conn:
        await conn.execute(t.identity_refresh.update().values(
            lease_owner=None, lease_until=None, refreshed_at=now_s() * 1000))
    assert (await reading)["access_token"] == "at-from-the-other-process"
    assert world.refreshes(broker) == 0
    early = [pause for waited, pause in pauses if waited < 0.1]
    late = [pause for waited, pause in pauses if waited >= 0.12]
    assert early and set(early) == {0.005}, pauses
    assert late and max(late) == 0.02 and all(pause > 0.005 for pause in late), pauses
