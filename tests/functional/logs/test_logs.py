"""Logs: the events idbroker records, read back in Auth0's shape, filtered and paged — and
never a token or secret inside, proven with canaries."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from idbroker.vault import schema as t
from tests.support import ISSUER, Broker

CANARY = "canary-" + secrets.token_hex(20)


@dataclass
class World:
    broker: Broker
    user_id: str
    app_id: str
    worker_id: str
    canaries: list[str]


@pytest.fixture
async def world(broker: Broker) -> World:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    login = await broker.login(app)
    exchanged = (await broker.exchange(app, login)).json()
    upstream = broker.upstream.issued[-1]
    worker_id, worker_secret = await broker.m2m_client(["read:clients"])
    ok = await broker.http.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": worker_id,
        "client_secret": worker_secret, "audience": f"{ISSUER}api/v2/"})
    refused = await broker.http.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": worker_id,
        "client_secret": worker_secret, "audience": "https://other.example.test/"})
    assert ok.status_code == 200 and refused.status_code == 403
    # A write whose body holds a secret, and a failed write whose body holds one.
    assert (await broker.oidc_connection([], name="second", client_secret=CANARY)).get("id")
    bad = await broker.mgmt("POST", "clients", json={"name": CANARY, "client_secret": CANARY})
    assert bad.status_code == 400
    assert (await broker.mgmt("GET", "clients", token="not-a-token")).status_code == 401
    reader = ok.json()["access_token"]
    assert (await broker.mgmt("DELETE", f"clients/{worker_id}", token=reader)).status_code == 403
    canaries = [CANARY, worker_secret, reader, app["client_secret"], exchanged["access_token"],
                exchanged["refresh_token"], exchanged["id_token"], upstream["access_token"],
                upstream["refresh_token"], login.params["code"]]
    return World(broker, "oidc|acme-oidc|alice", app["client_id"], worker_id, canaries)


async def logs(world: World, **params: str) -> Any:
    response = await world.broker.mgmt("GET", "logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_events_in_auth0_shape_and_filters(world: World) -> None:
    everything = await logs(world)
    types = [e["type"] for e in everything]
    for expected in ("s", "seccft", "feccft", "sapi", "fapi"):
        assert expected in types, types
    dates = [e["date"] for e in everything]
    assert dates == sorted(dates, reverse=True) and dates[0].endswith("Z")
    login = next(e for e in everything if e["type"] == "s")
    assert login["user_id"] == world.user_id and login["client_id"] == world.app_id
    assert login["connection"] == "acme-oidc" and login["log_id"].startswith("log_")
    failed_cc = next(e for e in everything if e["type"] == "feccft")
    assert failed_cc["client_id"] == world.worker_id
    assert failed_cc["details"]["audience"] == "https://other.example.test/"
    denied = [e for e in everything if e["type"] == "fapi"]
    assert {e["details"]["response"]["statusCode"] for e in denied} == {400, 401, 403}
    forbidden = next(e for e in denied if e["details"]["response"]["statusCode"] == 403)
    assert forbidden["client_id"] == world.worker_id
    assert forbidden["details"]["request"] == {"method": "DELETE",
                                               "path": f"/api/v2/clients/{world.worker_id}"}

    assert {e["type"] for e in await logs(world, q="type:seccft")} == {"seccft"}
    mine = await logs(world, q=f"client_id:{world.worker_id} AND type:feccft")
    assert [e["log_id"] for e in mine] == [failed_cc["log_id"]]
    by_user = await logs(world, q=f'user_id:"{world.user_id}"')
    assert by_user and all(e["user_id"] == world.user_id for e in by_user)
    assert await logs(world, q="date:[2999-01-01 TO *]") == []
    assert len(await logs(world, q="date:[2000-01-01 TO *]")) == len(everything)
    assert len(await logs(world, q=f"date:[* TO {login['date']}]")) >= 1
    only = await logs(world, fields="type,log_id", include_fields="true", per_page="1")
    assert len(only) == 1 and set(only[0]) == {"type", "log_id"}
    oldest_first = await logs(world, sort="date:1")
    assert oldest_first == list(reversed(everything))
    for bad in ("password:x", "type:s type:f", "date:2020", 'user_id:"open', "("):
        response = await world.broker.mgmt("GET", "logs", params={"q": bad})
        assert response.status_code == 400 and response.json()["errorCode"] == "invalid_query_string"


async def test_paging_by_offset_and_by_checkpoint(world: World) -> None:
    everything = await logs(world)
    page = await logs(world, page="1", per_page="2", include_totals="true")
    assert page["start"] == 2 and page["limit"] == 2 and page["length"] == 2
    assert page["total"] == len(everything) and page["logs"] == everything[2:4]

    # Checkpoints: take without from gives the newest; from continues oldest-first after it.
    newest = await logs(world, take="1")
    assert newest == everything[:1]
    oldest = everything[-1]["log_id"]
    collected, checkpoint = [], oldest
    while True:
        chunk = await logs(world, **{"from": checkpoint, "take": "3"})
        if not chunk:
            break
        collected += chunk
        checkpoint = chunk[-1]["log_id"]
    assert collected == list(reversed(everything))[1:]
    unknown = await world.broker.mgmt("GET", "logs", params={"from": "log_nope"})
    assert unknown.status_code == 400
    too_far = await world.broker.mgmt("GET", "logs", params={"page": "20", "per_page": "100"})
    assert too_far.status_code == 400


async def test_user_logs_and_scopes(world: World) -> None:
    broker = world.broker
    path = f"users/{quote(world.user_id, safe='')}/logs"
    mine = await broker.mgmt("GET", path, params={"include_totals": "true"})
    assert mine.status_code == 200
    body = mine.json()
    assert body["total"] >= 1 and all(e["user_id"] == world.user_id for e in body["logs"])
    user_reader = await broker.mgmt_token(["read:logs_users"])
    assert (await broker.mgmt("GET", path, token=user_reader)).status_code == 200
    assert (await broker.mgmt("GET", "logs", token=user_reader)).status_code == 403
    one = (await broker.mgmt("GET", "logs")).json()[0]
    assert (await broker.mgmt("GET", f"logs/{one['log_id']}")).json() == one
    assert (await broker.mgmt("GET", "logs/log_nope")).status_code == 404


async def test_no_token_or_secret_in_any_log(world: World) -> None:
    broker = world.broker
    bodies = [(await broker.mgmt("GET", "logs", params={"per_page": "100"})).text,
              (await broker.mgmt("GET", f"users/{quote(world.user_id, safe='')}/logs")).text]
    async with broker.runtime.store.engine.connect() as conn:
        rows = [repr(tuple(r)) for r in await conn.execute(sa.select(t.audit_log))]
    assert len(rows) >= 8
    for canary in world.canaries:
        assert canary and len(canary) >= 16
        for text in [*bodies, *rows]:
            assert canary not in text
