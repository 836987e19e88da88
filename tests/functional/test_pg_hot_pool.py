"""The hot paths' own asyncpg pool on PostgreSQL (vault/pg_pool.py) and the reads coalesced into
one statement (vault/coalesced_reads.py): each concurrent reader gets exactly its own rows,
writes committed before a read are seen, the pool is never exceeded, terminated backends are
replaced, and closing the runtime closes the connections. The reads' tests run on SQLite too."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault import schema as t
from idbroker.vault.store import Store
from tests.conftest import PG_URL
from tests.support import Broker

needs_pg = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (IDBROKER_TEST_DATABASE_URL)")


async def _users(store: Store, ids: list[str]) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(t.users.insert(), [dict(
            user_id=uid, email=f"{n}@example.test", extra={}, app_metadata={"n": n},
            user_metadata={}, blocked=False, email_verified=False, created_at=n, updated_at=n,
            logins_count=n) for n, uid in enumerate(ids)])


async def _reference(store: Store, user_id: str) -> tuple[str, int] | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.users.c.user_id, t.users.c.logins_count).where(
            t.users.c.user_id == user_id))).first()
    return (row[0], row[1]) if row else None


async def test_concurrent_reads_each_get_their_own_user(broker: Broker) -> None:
    store = broker.runtime.store
    ids = [f"auth0|u{n}" for n in range(40)]
    long_id = "auth0|" + "x" * 300  # longer than the column: its 300-char prefix is a user
    ids.append(long_id[:300])
    await _users(store, ids)
    asked = [*ids, *ids[:10], "auth0|nobody", long_id, long_id[:299]] * 2
    got = await asyncio.gather(*(store.get_user(uid) for uid in asked))
    for uid, user in zip(asked, got, strict=True):
        expected = await _reference(store, uid)
        assert (user.user_id, user.logins_count) == expected if user else expected is None, uid
    # Two readers of one user get two objects: nothing one request changes leaks to another.
    first, second = await asyncio.gather(store.get_user(ids[0]), store.get_user(ids[0]))
    assert first == second and first is not second


async def test_concurrent_client_and_grant_reads(broker: Broker) -> None:
    store = broker.runtime.store
    audience = broker.runtime.settings.management_audience
    made = [await broker.m2m_client(["read:users"]) for _ in range(3)]
    ids = [client_id for client_id, _ in made]
    results = await asyncio.gather(
        *(store.get_client(c) for c in [*ids, "nope", *ids]),
        *(store.list_client_grants(client_id=c) for c in [*ids, "nope"]),
        *(store.list_client_grants(client_id=c, audience=a)
          for c in ids for a in (audience, "https://other/")))
    clients, grants, pairs = results[:7], results[7:11], results[11:]
    assert [c.client_id if c else None for c in clients] == [*ids, None, *ids]
    assert [[g.client_id for g in gs] for gs in grants] == [[c] for c in ids] + [[]]
    assert [[(g.client_id, g.audience) for g in gs] for gs in pairs] == [
        x for c in ids for x in ([(c, audience)], [])]


async def test_a_read_sees_every_write_committed_before_it(broker: Broker) -> None:
    store = broker.runtime.store
    await _users(store, ["auth0|w"])

    async def bump_then_read(n: int) -> int:
        async with store.engine.begin() as conn:
            await conn.execute(t.users.update().where(t.users.c.user_id == "auth0|w").values(
                logins_count=t.users.c.logins_count + 1))
        user = await store.get_user("auth0|w")
        assert user is not None
        return user.logins_count

    seen = await asyncio.gather(*(bump_then_read(n) for n in range(30)),
                                *(store.get_user("auth0|w") for _ in range(30)))
    # Each writer's own read comes after its commit: at least its own increment shows.
    assert all(isinstance(n, int) and n >= 1 for n in seen[:30])
    final = await store.get_user("auth0|w")
    assert final is not None and final.logins_count == 30


async def _pool_backends(store: Store) -> set[int]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'idbroker' AND pid <> pg_backend_pid()"))
        return {r[0] for r in rows}


@needs_pg
async def test_many_concurrent_requests_queue_on_the_pool(broker: Broker) -> None:
    rt = broker.runtime
    assert rt.pg_pool is not None
    await _users(rt.store, [f"auth0|c{n}" for n in range(20)])
    token = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, len(await _pool_backends(rt.store)))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    answers = await asyncio.gather(*(broker.user(f"auth0|c{n % 20}", token) for n in range(96)),
                                   *(rt.store.audit("sapi", description="burst", details={"n": n})
                                     for n in range(96)))
    done.set()
    await watcher
    assert [r.status_code for r in answers[:96]] == [200] * 96
    assert 1 <= peak <= rt.settings.database_hot_pool_size
    rows = await rt.store.list_audit(limit=1000)
    assert sorted(r["details"]["n"] for r in rows if r["description"] == "burst") == \
        list(range(96))


@needs_pg
async def test_terminated_backends_are_replaced(broker: Broker) -> None:
    store = broker.runtime.store
    await _users(store, ["auth0|t"])
    assert (await store.get_user("auth0|t")) is not None
    await store.audit("sapi", description="before")
    for _ in range(2):
        backends = await _pool_backends(store)
        assert backends
        async with store.engine.connect() as conn:
            for pid in backends:
                await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # Straight away: the pool replaces the dead connections (or retries once on one).
        users = await asyncio.gather(*(store.get_user("auth0|t") for _ in range(10)))
        assert all(u is not None and u.user_id == "auth0|t" for u in users)
        await asyncio.gather(*(store.audit("sapi", description="after", details={"n": n})
                               for n in range(5)))
        assert not (await _pool_backends(store)) & backends
    rows = await store.list_audit(limit=100)
    assert sorted(r["details"].get("n", -1) for r in rows if r["description"] == "after") == \
        sorted([*range(5), *range(5)])


@needs_pg
async def test_closing_the_runtime_closes_its_connections(settings: Settings,
                                                          broker: Broker) -> None:
    store = broker.runtime.store
    before = await _pool_backends(store)
    other = await Runtime.start(settings)
    assert other.pg_pool is not None
    await _users(other.store, ["auth0|x"])
    await asyncio.gather(*(other.store.get_user("auth0|x") for _ in range(20)),
                         other.store.audit("sapi", description="closing"))
    opened = await _pool_backends(store) - before
    assert opened
    await other.close()
    for _ in range(100):  # a backend exits just after its client said goodbye
        if not (await _pool_backends(store)) & opened:
            break
        await asyncio.sleep(0.02)
    assert not (await _pool_backends(store)) & opened
    assert any(r["description"] == "closing" for r in await store.list_audit())


@needs_pg
async def test_a_statement_whose_backend_dies_is_sent_again(broker: Broker) -> None:
    pool = broker.runtime.pg_pool
    assert pool is not None
    store = broker.runtime.store

    async def terminate_soon() -> None:
        await asyncio.sleep(0.2)
        async with store.engine.connect() as conn:
            await conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "datname = current_database() AND application_name = 'idbroker' "
                "AND query LIKE 'SELECT pg_sleep%' AND state = 'active'"))

    killer = asyncio.create_task(terminate_soon())
    rows = await pool.fetch("SELECT pg_sleep(0.6), 1 AS one", [])
    await killer
    assert [r["one"] for r in rows] == [1]


@needs_pg
async def test_an_audit_batch_sent_twice_is_written_once(broker: Broker) -> None:
    """A batch whose connection died before the commit's answer is sent again: the rows
    already committed are not written twice (nor does the retry fail on them)."""
    writer = broker.runtime.store.audit_writer
    pool = broker.runtime.pg_pool
    assert pool is not None
    rows = [dict(id=f"log_twice{n}", date=n, type="sapi", client_id=None, user_id=None,
                 connection=None, ip=None, description="twice", details={"n": n})
            for n in range(3)]
    await pool.execute(writer._pg_insert, writer._pg_arrays(rows[:2]))
    await pool.execute(writer._pg_insert, writer._pg_arrays(rows))
    written = await broker.runtime.store.list_audit()
    assert sorted(r["details"]["n"] for r in written if r["description"] == "twice") == [0, 1, 2]


@needs_pg
async def test_reads_and_audit_rows_while_the_pool_closes(settings: Settings,
                                                         broker: Broker) -> None:
    """Shutdown: what is asked for while the hot-path pool closes goes through SQLAlchemy's."""
    other = await Runtime.start(settings)
    try:
        assert other.pg_pool is not None
        await _users(other.store, [f"auth0|s{n}" for n in range(5)])
        results = await asyncio.gather(
            *(other.store.get_user(f"auth0|s{n % 5}") for n in range(40)),
            *(other.store.audit("sapi", description="shutdown", details={"n": n})
              for n in range(10)),
            other.pg_pool.close(),
            *(other.store.get_client(f"none{n}") for n in range(5)))
        users = results[:40]
        assert [u.user_id if u else None for u in users] == [f"auth0|s{n % 5}" for n in range(40)]
        assert not other.pg_pool.usable
        assert (await other.store.get_user("auth0|s1")) is not None
        rows = await other.store.list_audit(limit=100)
        assert sorted(r["details"]["n"] for r in rows if r["description"] == "shutdown") == \
            list(range(10))
    finally:
        await other.close()
