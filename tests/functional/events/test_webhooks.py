"""Webhooks: endpoints managed through the Management API, signed deliveries to a real HTTP
receiver, retries with growing backoff per endpoint, no redirects, bounded give-up, and no
credential in any payload."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from idbroker.lifecycle import events
from idbroker.lifecycle.outbox import IDENTITY_NEEDS_RECONSENT, USER_DELETED, emit_event
from idbroker.settings import Mode
from idbroker.vault import event_store as es
from idbroker.vault import schema as t
from tests.functional.events.receiver import running_receiver
from tests.support import Broker

EP = "event-endpoints"


async def test_endpoint_secret_is_shown_once_stored_sealed_and_the_api_validates(
        broker: Broker) -> None:
    created = await broker.mgmt("POST", EP, json={
        "url": "https://hooks.example.test/idbroker", "events": ["user.deleted"]})
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["enabled"] is True and body["events"] == ["user.deleted"]

    got = await broker.mgmt("GET", f"{EP}/{body['id']}")
    assert got.status_code == 200 and "secret" not in got.json()
    listed = await broker.mgmt("GET", EP)
    assert secret not in listed.text and [e["id"] for e in listed.json()] == [body["id"]]
    async with broker.runtime.store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.event_endpoints))).one()
    assert secret.encode() not in bytes(row.secret_sealed)
    assert secret not in json.dumps([str(v) for v in row._mapping.values()])

    patched = await broker.mgmt("PATCH", f"{EP}/{body['id']}", json={
        "events": ["identity.unlinked", "user.deleted"], "enabled": False})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert "secret" not in patched.json()
    rotated = await broker.mgmt("POST", f"{EP}/{body['id']}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (secret, None)

    for bad, why in [({"url": "https://a.test/", "events": ["user.exploded"]}, "unknown event"),
                     ({"url": "https://u:p@a.test/", "events": ["user.deleted"]}, "credentials"),
                     ({"url": "ftp://a.test/", "events": ["user.deleted"]}, "http(s)"),
                     ({"url": "https://a.test/", "events": []}, "events"),
                     ({"url": "https://a.test/", "events": ["user.deleted"], "x": 1}, "x")]:
        refused = await broker.mgmt("POST", EP, json=bad)
        assert refused.status_code == 400, bad
        assert refused.json()["errorCode"] == "invalid_body" and why in refused.json()["message"]

    settings = broker.runtime.settings
    settings.mode = Mode.production
    try:
        plain = await broker.mgmt("POST", EP, json={"url": "http://hooks.example.test/",
                                                    "events": ["user.deleted"]})
    finally:
        settings.mode = Mode.development
    assert plain.status_code == 400 and "https" in plain.json()["message"]

    reader = await broker.mgmt_token(["read:event_endpoints"])
    assert (await broker.mgmt("GET", EP, token=reader)).status_code == 200
    denied = await broker.mgmt("POST", EP, token=reader, json={
        "url": "https://a.test/", "events": ["user.deleted"]})
    assert denied.status_code == 403
    assert (await broker.mgmt("DELETE", f"{EP}/{body['id']}", token=reader)).status_code == 403

    assert (await broker.mgmt("DELETE", f"{EP}/{body['id']}")).status_code == 204
    gone = await broker.mgmt("GET", f"{EP}/{body['id']}")
    assert gone.status_code == 404 and gone.json()["errorCode"] == "inexistent_event_endpoint"


async def _make_due(broker: Broker) -> None:
    """Let the backoff run out without waiting for it."""
    async with broker.runtime.store.engine.begin() as conn:
        await conn.execute(t.event_deliveries.update().where(
            t.event_deliveries.c.status == "pending").values(next_attempt_at=0))


async def _delivery(broker: Broker, endpoint_id: str) -> es.Delivery:
    [found] = await es.list_deliveries(broker.runtime.store, endpoint_id=endpoint_id)
    return found


async def test_signed_deliveries_retry_per_endpoint_and_never_follow_redirects(
        broker: Broker) -> None:
    rt = broker.runtime
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    login = await broker.login(app)
    assert (await broker.exchange(app, login)).status_code == 200
    async with rt.store.engine.connect() as conn:
        user_id = (await conn.execute(sa.select(t.users.c.user_id))).scalar_one()

    async with running_receiver() as receiver:
        endpoints = {}
        for name, subscribed in [("good", ["user.deleted", "identity.unlinked"]),
                                 ("flaky", ["user.deleted"]), ("moved", ["user.deleted"]),
                                 ("off", ["user.deleted"])]:
            created = (await broker.mgmt("POST", EP, json={
                "url": receiver.url(f"/{name}"), "events": subscribed,
                "enabled": name != "off"})).json()
            endpoints[name] = created["id"]
            receiver.secrets[f"/{name}"] = created["secret"]
        receiver.script = {"/flaky": [500, 503], "/moved": [302, 302, 302]}

        # A real change emits the event: deleting the user (in its own transaction).
        deleted = await broker.mgmt("DELETE", f"users/{quote(user_id, safe='')}")
        assert deleted.status_code == 204
        async with rt.store.engine.begin() as conn:
            await emit_event(conn, IDENTITY_NEEDS_RECONSENT, {"user_id": user_id})

        # Two workers at once: every delivery is claimed by exactly one of them.
        await asyncio.gather(events.run_once(rt), events.run_once(rt))
        [good] = receiver.deliveries("/good")
        assert good["body"]["type"] == USER_DELETED
        assert good["body"]["data"]["user_id"] == user_id
        assert good["body"]["id"].startswith("evt_") and good["body"]["created_at"]
        assert good["headers"]["idbroker-event-type"] == USER_DELETED
        assert receiver.bad_signatures == 0
        assert (await _delivery(broker, endpoints["good"])).status == "delivered"
        assert await es.list_deliveries(rt.store, endpoint_id=endpoints["off"]) == []

        first = await _delivery(broker, endpoints["flaky"])
        assert (first.status, first.attempts, first.last_status) == ("pending", 1, 500)
        moved = await _delivery(broker, endpoints["moved"])
        assert moved.status == "pending" and moved.last_error == "redirect not followed"

        # Nothing is due before its backoff ends: a run sends nothing.
        await events.run_once(rt)
        assert len(receiver.deliveries("/flaky")) == 1

        await _make_due(broker)
        await events.run_once(rt)
        second = await _delivery(broker, endpoints["flaky"])
        assert (second.status, second.attempts, second.last_status) == ("pending", 2, 503)
        assert (second.next_attempt_at - second.updated_at) > (
            first.next_attempt_at - first.updated_at)  # the backoff grows

        await _make_due(broker)
        rt.settings.event_give_up_after_s = 0
        try:
            await events.run_once(rt)
        finally:
            rt.settings.event_give_up_after_s = 3 * 86_400
        # the flaky endpoint succeeded on its third attempt; the redirect was given up
        third = await _delivery(broker, endpoints["flaky"])
        assert (third.status, third.attempts, third.last_status) == ("delivered", 3, 200)
        assert (await _delivery(broker, endpoints["moved"])).status == "given_up"
        assert not receiver.deliveries("/elsewhere") and receiver.bad_signatures == 0
        assert len(receiver.deliveries("/good")) == 1  # never re-sent

        history = await broker.mgmt("GET", f"{EP}/{endpoints['moved']}/deliveries")
        assert history.status_code == 200
        assert history.json()[0]["status"] == "given_up"

    canaries = [v for body in broker.upstream.issued for k, v in body.items()
                if k in ("access_token", "refresh_token", "id_token")]
    assert canaries
    for raw in receiver.raw:
        assert not any(c.encode() in raw for c in canaries)
        assert b"whsec_" not in raw


async def test_an_event_payload_naming_a_credential_is_refused(broker: Broker) -> None:
    store = broker.runtime.store
    for data in ({"user_id": "u", "access_token": "x"}, {"nested": {"client_secret": "x"}},
                 {"refresh_token": "x"}):
        with pytest.raises(ValueError):
            async with store.engine.begin() as conn:
                await emit_event(conn, USER_DELETED, data)
    async with store.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(
            t.event_outbox))).scalar_one() == 0
