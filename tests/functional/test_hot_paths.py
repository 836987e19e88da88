"""The hot-path shortcuts (docs/performance.md, "Hot-path work") give exactly what the plain
paths gave: the one-statement user/client reads (inline sqlite3 on SQLite), the audit group
commit, and route dispatch by index."""

from __future__ import annotations

import asyncio
import re
import string

import pytest
import sqlalchemy as sa
from starlette.routing import Match, Route

from idbroker.http.app import create_app
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.records import Client, ClientGrant, Identity, TokenSet, UpstreamProfile, User
from idbroker.vault.store import Store
from tests.support import Broker


async def _reference_user(store: Store, user_id: str) -> User | None:
    """The two plain SELECTs the store used to run."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.users).where(t.users.c.user_id == user_id))).first()
        if row is None:
            return None
        rows = await conn.execute(sa.select(t.identities).where(
            t.identities.c.user_id == user_id).order_by(t.identities.c.created_at,
                                                        t.identities.c.id))
        return User(**row._mapping, identities=[Identity(**r._mapping) for r in rows])


async def _login(broker: Broker, subject: str) -> str:
    store = broker.runtime.store
    connection = await store.get_connection_by_name("acme-oidc")
    assert connection is not None
    return await store.record_login(
        connection=connection, provider="oidc", issuer=broker.upstream.issuer, subject=subject,
        idp_user_id=f"acme-oidc|{subject}", is_social=False,
        profile=UpstreamProfile(email=f"{subject}@example.test", email_verified=True,
                                name="Zoë", extra={"locale": "fr", "groups": ["a", "b"]}),
        tokens=TokenSet(access_token=f"at-{subject}", refresh_token="rt", expires_at=4_000_000_000,
                        scope=["openid", "email"]), ip="127.0.0.1")


async def test_user_read_is_the_plain_read(broker: Broker) -> None:
    store = broker.runtime.store
    await broker.oidc_connection([])
    user_id = await _login(broker, "first")
    other = await _login(broker, "second")
    async with store.engine.begin() as conn:
        # A second identity (older, so it sorts first), metadata, a blocked flag.
        await conn.execute(t.identities.update().where(t.identities.c.user_id == other).values(
            user_id=user_id, created_at=1))
        await conn.execute(t.users.update().where(t.users.c.user_id == user_id).values(
            app_metadata={"plan": "pro", "n": [1, 2], "deep": {"x": None}}, blocked=True,
            user_metadata={}))
        await conn.execute(t.users.delete().where(t.users.c.user_id == other))
        await conn.execute(t.users.insert().values(
            user_id="auth0|lonely", extra={}, app_metadata={}, user_metadata={}, blocked=False,
            email_verified=False, created_at=5, updated_at=5, logins_count=0))

    for uid in (user_id, "auth0|lonely", "auth0|nobody"):
        assert await store.get_user(uid) == await _reference_user(store, uid)
    user = await store.get_user(user_id)
    assert user is not None and user.blocked is True and len(user.identities) == 2
    assert [i.user_id for i in user.identities] == [user_id, user_id]
    assert isinstance(user.identities[0].is_social, bool)
    assert (await store.get_user("auth0|lonely")).identities == []  # type: ignore[union-attr]

    # Read-your-writes: a change committed through the pool shows in the very next read.
    await _login(broker, "first")
    again = await store.get_user(user_id)
    assert again is not None and again.logins_count == user.logins_count + 1


async def test_client_and_grant_reads_are_the_plain_reads(broker: Broker) -> None:
    store = broker.runtime.store
    client_id, _ = await broker.m2m_client(["read:users"])
    audience = broker.runtime.settings.management_audience
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.clients).where(
            t.clients.c.client_id == client_id))).first()
        grants = [ClientGrant(**r._mapping) for r in await conn.execute(sa.select(
            t.client_grants.c.id, t.client_grants.c.client_id, t.client_grants.c.audience,
            t.client_grants.c.scope).where(t.client_grants.c.client_id == client_id))]
    assert row is not None
    assert await store.get_client(client_id) == Client(**row._mapping)
    assert await store.get_client("no-such-client") is None
    assert await store.list_client_grants(client_id=client_id) == grants
    assert await store.list_client_grants(client_id=client_id, audience=audience) == grants
    assert await store.list_client_grants(client_id=client_id, audience="https://other/") == []

    await store.update_client(client_id, {"name": "renamed", "callbacks": ["https://x/cb"]})
    changed = await store.get_client(client_id)
    assert changed is not None and changed.name == "renamed"
    assert changed.callbacks == ["https://x/cb"]


async def test_concurrent_audit_records_are_all_committed_when_awaited(broker: Broker) -> None:
    store = broker.runtime.store
    await asyncio.gather(*(store.audit("sapi", description=f"call {n}", client_id="c",
                                       details={"n": n}) for n in range(40)))
    rows = await store.list_audit(limit=100)
    assert sorted(r["details"]["n"] for r in rows if r["type"] == "sapi") == list(range(40))


async def test_one_bad_audit_record_fails_only_its_own_caller(broker: Broker) -> None:
    store = broker.runtime.store
    results = await asyncio.gather(
        *(store.audit("sapi", description="ok", details={"n": n}) for n in range(5)),
        store.audit("sapi", description="bad", details={"n": object()}),
        return_exceptions=True)
    assert [isinstance(r, Exception) for r in results] == [False] * 5 + [True]
    rows = await store.list_audit(limit=100)
    assert sorted(r["details"]["n"] for r in rows) == list(range(5))


def _samples(path: str) -> list[str]:
    plain = re.sub(r"\{[^}:]+\}", "abc", re.sub(r"\{[^}]+:path\}", "a/b", path))
    return [plain, plain + "/", plain.rstrip("/") + "/extra", "/nothing" + plain]


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"])
async def test_route_index_picks_the_route_the_scan_picks(broker: Broker, method: str) -> None:
    app = create_app(runtime=broker.runtime)
    index = app.router.middleware_stack
    routes = app.router.routes
    paths = [p for r in routes if isinstance(r, Route) for p in _samples(r.path)]
    assert len(paths) > 100

    def first_full(candidates: list) -> object:  # type: ignore[type-arg]
        for route in candidates:
            scope = {"type": "http", "method": method, "path": path, "root_path": ""}
            if route.matches(scope)[0] is Match.FULL:
                return route
        return None

    for path in paths:
        assert first_full(index.candidates(path)) is first_full(routes), (method, path)


def test_new_ids_keep_their_alphabet_and_length() -> None:
    ids = {new_id("log_", 24) for _ in range(5000)}
    assert len(ids) == 5000
    allowed = set(string.ascii_letters + string.digits)
    assert all(i.startswith("log_") and len(i) == 28 and set(i[4:]) <= allowed for i in ids)
    # Every character of the alphabet is drawn (a mapping bug would leave some out).
    assert set("".join(i[4:] for i in ids)) == allowed


async def test_audit_records_from_two_event_loops_at_once(broker: Broker) -> None:
    """A store serving two loops (servers in threads, as the interop tests run them): each
    loop's callers get their rows committed; neither loop's queue swallows the other's."""
    import threading

    from tests.conftest import PG_URL
    if PG_URL:
        pytest.skip("an asyncpg pool belongs to one event loop")
    store = broker.runtime.store

    def other_loop() -> None:
        async def write() -> None:
            await asyncio.gather(*(store.audit("sapi", description="thread", details={"n": n})
                                   for n in range(100, 130)))
        asyncio.run(write())

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.gather(*(store.audit("sapi", description="main", details={"n": n})
                           for n in range(30)))
    await asyncio.to_thread(thread.join, 30)
    assert not thread.is_alive()
    rows = await store.list_audit(limit=200)
    assert sorted(r["details"]["n"] for r in rows) == [*range(30), *range(100, 130)]


async def test_audit_records_wait_for_another_writer_without_blocking_the_loop(
        broker: Broker) -> None:
    """On SQLite a batch is committed on the event loop only when the write lock is free at
    once; while another connection (another worker, a login) holds it, the batch waits in the
    writer thread and the loop keeps serving."""
    import sqlite3

    from idbroker.vault.hot_reads import sqlite_file
    store = broker.runtime.store
    path = sqlite_file(store.engine)
    if path is None:
        pytest.skip("SQLite only")
    await store.audit("sapi", description="before", details={"n": 0})  # inline, lock free
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        pending = asyncio.ensure_future(store.audit("sapi", description="during",
                                                    details={"n": 1}))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not pending.done()  # the loop ran; the row is still waiting
    finally:
        other.execute("COMMIT")
        other.close()
    await asyncio.wait_for(pending, 30)
    rows = await store.list_audit(limit=10)
    assert sorted(r["details"]["n"] for r in rows if r["type"] == "sapi") == [0, 1]


def test_time_ordered_ids_sort_by_time_and_stay_unguessable() -> None:
    from idbroker.ids import time_ordered_id
    stamps = [0, 1, 61, 62, 1_764_356_400_000, 1_764_356_400_001, 62**7 - 1]
    ids = [time_ordered_id("log_", ms) for ms in stamps]
    assert ids == sorted(ids) and all(len(i) == 28 for i in ids)
    same_ms = {time_ordered_id("log_", 1_764_356_400_000) for _ in range(2000)}
    assert len(same_ms) == 2000  # the random part (17 characters) keeps them apart
