"""Each process keeps the clients and client grants it reads (vault/client_cache.py), and a
write made anywhere — another process included — takes effect on the very next request, as it
did without the cache: a rotated secret, a deleted client, a revoked or narrowed grant."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from idbroker.runtime import Runtime
from idbroker.vault import client_cache, resource_server_store
from idbroker.vault import schema as t
from tests.support import ISSUER, Broker

MGMT_AUDIENCE = f"{ISSUER}api/v2/"


@pytest.fixture
async def other_process(broker: Broker) -> AsyncIterator[Runtime]:
    """A second runtime on the same database: what another idbroker process would write."""
    other = await Runtime.start(broker.runtime.settings)
    yield other
    await other.close()


async def _token(broker: Broker, client_id: str, secret: str) -> tuple[int, dict[str, Any]]:
    response = await broker.http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        "audience": MGMT_AUDIENCE})
    return response.status_code, response.json()


async def _cached(broker: Broker, client_id: str, secret: str) -> None:
    """A token once, so that this process holds the client and its grant."""
    status, body = await _token(broker, client_id, secret)
    assert status == 200, body
    cache = broker.runtime.store.client_cache
    assert client_id in cache.clients
    assert (client_id, MGMT_AUDIENCE) in cache.grants


async def test_a_secret_rotated_by_another_process_is_refused_at_once(
        broker: Broker, other_process: Runtime) -> None:
    client_id, secret = await broker.m2m_client(["read:users"])
    await _cached(broker, client_id, secret)
    await other_process.store.update_client(client_id, {}, secret="the-new-secret-" + "x" * 40)
    status, body = await _token(broker, client_id, secret)
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await _token(broker, client_id, "the-new-secret-" + "x" * 40)
    assert status == 200, body


async def test_a_client_deleted_by_another_process_gets_no_more_tokens(
        broker: Broker, other_process: Runtime) -> None:
    client_id, secret = await broker.m2m_client(["read:users"])
    await _cached(broker, client_id, secret)
    assert await other_process.store.delete_client(client_id)
    status, body = await _token(broker, client_id, secret)
    assert (status, body["error"]) == (401, "invalid_client")


async def test_a_grant_revoked_or_narrowed_by_another_process_applies_at_once(
        broker: Broker, other_process: Runtime) -> None:
    client_id, secret = await broker.m2m_client(["read:users", "read:user_idp_tokens"])
    await _cached(broker, client_id, secret)
    [grant] = await other_process.store.list_client_grants(client_id=client_id)
    await other_process.store.update_client_grant(grant.id, ["read:users"])
    status, body = await _token(broker, client_id, secret)
    assert status == 200 and body["scope"] == "read:users", body
    assert await other_process.store.delete_client_grant(grant.id)
    status, body = await _token(broker, client_id, secret)
    assert (status, body["error"]) == (403, "access_denied")


async def _create_client(rt: Runtime) -> None:
    await rt.store.create_client(client_id="cc-new", secret="s" * 48, name="n",
                                 app_type="non_interactive", token_endpoint_auth_method="client_secret_post")


async def _update_client(rt: Runtime) -> None:
    await rt.store.update_client("cc-base", {"name": "renamed"})


async def _clear_secret(rt: Runtime) -> None:
    await rt.store.update_client("cc-base", {}, clear_secret=True)


async def _delete_client(rt: Runtime) -> None:
    assert await rt.store.delete_client("cc-base")


async def _create_grant(rt: Runtime) -> None:
    await rt.store.create_client_grant("cc-base", "https://api.example.test/", ["read:x"])


async def _update_grant(rt: Runtime) -> None:
    [grant] = await rt.store.list_client_grants(client_id="cc-base")
    await rt.store.update_client_grant(grant.id, ["read:y"])


async def _delete_grant(rt: Runtime) -> None:
    [grant] = await rt.store.list_client_grants(client_id="cc-base")
    assert await rt.store.delete_client_grant(grant.id)


async def _delete_api(rt: Runtime) -> None:
    server = await resource_server_store.create(rt.store, identifier="https://api.example.test/",
                                                name="API", scopes=[], token_lifetime=86400,
                                                signing_alg="RS256", enforce_policies=False,
                                                allow_offline_access=False)
    assert await resource_server_store.delete(rt.store, server.id)


WRITES: dict[str, Callable[[Runtime], Awaitable[None]]] = {
    "create client": _create_client, "update client": _update_client,
    "clear secret": _clear_secret, "delete client": _delete_client,
    "create grant": _create_grant, "update grant": _update_grant,
    "delete grant": _delete_grant, "delete API (its grants go)": _delete_api,
}


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
async def test_every_write_to_clients_or_their_grants_moves_the_version(
        broker: Broker, write: str) -> None:
    rt = broker.runtime
    await rt.store.create_client(client_id="cc-base", secret="b" * 48, name="base",
                                 app_type="non_interactive",
                                 token_endpoint_auth_method="client_secret_post")
    if write in ("update grant", "delete grant", "delete API (its grants go)"):
        await rt.store.create_client_grant("cc-base", "https://api.example.test/", ["read:x"])
    await rt.store.get_client("cc-base")
    before = await rt.store.reads.cache_version(client_cache.NAME)
    assert before is not None and rt.store.client_cache.version == before
    await WRITES[write](rt)
    await asyncio.sleep(0)  # a request after the write is served in a later turn of the loop
    after = await rt.store.reads.cache_version(client_cache.NAME)
    assert after is not None and after > before
    # The next read drops what was kept under the old version.
    await rt.store.get_client("cc-base")
    assert rt.store.client_cache.version == after


async def test_unknown_client_ids_are_not_kept(broker: Broker) -> None:
    for n in range(50):
        status, body = await _token(broker, f"nobody-{n}", "x" * 48)
        assert (status, body["error"]) == (401, "invalid_client")
    assert not any(k.startswith("nobody-") for k in broker.runtime.store.client_cache.clients)


async def test_the_cache_starts_over_past_its_bound(broker: Broker,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    clients = [await broker.m2m_client(["read:users"]) for _ in range(3)]
    monkeypatch.setattr(client_cache, "MAX_ENTRIES", 3)
    cache = broker.runtime.store.client_cache
    for client_id, secret in clients:
        status, body = await _token(broker, client_id, secret)
        assert status == 200, body
        assert len(cache.clients) + len(cache.grants) <= 3
        assert client_id in cache.clients or (client_id, MGMT_AUDIENCE) in cache.grants


async def test_on_sqlite_the_version_is_read_again_on_the_next_turn_of_the_loop(
        broker: Broker) -> None:
    """The version is read once per turn of the event loop (vault/hot_reads.py): every
    request served in a turn arrived before its read. A commit made meanwhile by another
    process is seen from the next turn on, which is where any request arriving after that
    commit is served."""
    store = broker.runtime.store
    path = store.reads._path
    if path is None:
        pytest.skip("PostgreSQL reads the version per request (its reads are round trips)")
    await store.create_client_grant(
        (await broker.m2m_client(["read:users"]))[0], "https://api.example.test/", ["read:x"])
    first = await store.reads.cache_version(client_cache.NAME)
    with sqlite3.connect(path) as other:  # another process's commit, with no await between
        other.execute("UPDATE cache_versions SET version = version + 1 WHERE name = 'clients'")
    assert await store.reads.cache_version(client_cache.NAME) == first  # the same turn
    await asyncio.sleep(0)
    assert await store.reads.cache_version(client_cache.NAME) == (first or 0) + 1


async def test_a_missing_version_row_means_no_cache_until_a_write_brings_it_back(
        broker: Broker) -> None:
    """An operator who empties ``cache_versions`` turns the cache off, not stale: reads go
    to the tables, and the next write brings the row back above any earlier version."""
    store = broker.runtime.store
    client_id, secret = await broker.m2m_client(["read:users"])
    await _cached(broker, client_id, secret)
    before = await store.reads.cache_version(client_cache.NAME)
    assert before is not None
    async with store.engine.begin() as conn:
        await conn.execute(sa.delete(t.cache_versions))
    await asyncio.sleep(0)  # a new turn of the loop: the version is read again
    assert await store.reads.cache_version(client_cache.NAME) is None
    await store.update_client(client_id, {"name": "renamed"})
    status, body = await _token(broker, client_id, secret)
    assert status == 200, body
    assert (await store.get_client(client_id)).name == "renamed"  # type: ignore[union-attr]
    after = await store.reads.cache_version(client_cache.NAME)
    assert after is not None and after > before
