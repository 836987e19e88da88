"""The audit trail of IdP tokens (issue 4 item 8): a read, a refresh, a refresh failure, an
exchange (granted and refused) and a revocation each leave a record saying who (client,
user), what (identity, connection), from where and with what outcome — and no audit row holds
any token, secret or code, wherever it might hide (a whole-table scan for canaries)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from idbroker.clock import now_s
from idbroker.lifecycle import audit, revocation
from idbroker.oauth.grants import token_exchange as tx
from idbroker.vault import schema as t
from tests.support import Broker

ALICE = "oidc|acme-oidc|alice"
LOOPBACK = "127.0.0.1"  # httpx's ASGI transport presents every request from here


async def _audit_rows(broker: Broker) -> list[dict[str, Any]]:
    async with broker.runtime.store.engine.connect() as conn:
        rows = await conn.execute(sa.select(t.audit_log).order_by(t.audit_log.c.date))
        return [dict(row._mapping) for row in rows]


async def _of_type(broker: Broker, type_: str) -> list[dict[str, Any]]:
    return [r for r in await _audit_rows(broker) if r["type"] == type_]


async def _expire(broker: Broker, identity_id: str) -> None:
    """Make the stored access token expired, so the next read refreshes it upstream."""
    store = broker.runtime.store
    user = await store.get_user(ALICE)
    identity = next(i for i in user.identities if i.id == identity_id)
    tokens = store.open_tokens(identity)
    tokens.expires_at = now_s() - 10
    async with store.engine.begin() as conn:
        await conn.execute(t.identities.update().where(t.identities.c.id == identity_id).values(
            **store._sealed_tokens(identity_id, tokens)))


async def test_every_idp_token_operation_is_audited_and_no_audit_row_holds_a_credential(
        broker: Broker) -> None:
    app = await broker.web_app(
        grant_types=["authorization_code", "refresh_token", tx.AUTH0_GRANT],
        token_exchange={"allowed_connections": ["acme-oidc"]})
    await broker.oidc_connection([app["client_id"]])
    login = await broker.login(app)
    ours = (await broker.exchange(app, login)).json()
    identity = (await broker.runtime.store.get_user(ALICE)).identities[0]
    reader_id, reader_secret = await broker.m2m_client(
        ["read:users", "read:user_idp_tokens", "delete:user_idp_tokens"])
    reader = (await broker.token_for(reader_id, reader_secret))["access_token"]

    # A read of the tokens through the Management API.
    read = await broker.user(ALICE, reader)
    assert read.status_code == 200 and read.json()["identities"][0]["access_token"]
    [record] = await _of_type(broker, "mgmt_api_read")
    assert (record["client_id"], record["user_id"], record["ip"]) == (reader_id, ALICE, LOOPBACK)
    assert record["details"]["connections"] == ["acme-oidc"] and record["date"] > 0

    # A refresh on read, then a refresh the upstream refuses.
    await _expire(broker, identity.id)
    assert (await broker.user(ALICE, reader)).status_code == 200
    [refreshed] = await _of_type(broker, "idp_token_refresh")
    assert (refreshed["client_id"], refreshed["user_id"], refreshed["connection"],
            refreshed["ip"]) == (reader_id, ALICE, "acme-oidc", LOOPBACK)
    assert refreshed["details"]["identity_id"] == identity.id
    await _expire(broker, identity.id)
    broker.upstream.hooks.token_error = "invalid_grant"
    assert (await broker.user(ALICE, reader)).status_code == 200
    broker.upstream.hooks.reset()
    [failed] = await _of_type(broker, "idp_token_refresh_failed")
    assert (failed["client_id"], failed["user_id"], failed["connection"]) == (
        reader_id, ALICE, "acme-oidc")
    assert failed["details"]["identity_id"] == identity.id and failed["details"]["outcome"]

    # An exchange granted (after a new login: the refused refresh left no usable grant)
    # and one refused.
    login = await broker.login(app)
    ours = (await broker.exchange(app, login)).json()
    exchange = {"client_id": app["client_id"], "client_secret": app["client_secret"],
                "grant_type": tx.AUTH0_GRANT, "subject_token_type": tx.REFRESH_TOKEN,
                "subject_token": ours["refresh_token"],
                "requested_token_type": tx.FEDERATED_ACCESS_TOKEN, "connection": "acme-oidc"}
    granted = await broker.http.post("/oauth/token", json=exchange)
    assert granted.status_code == 200, granted.text
    refused = await broker.http.post("/oauth/token", json={**exchange, "connection": "other"})
    assert refused.status_code in (400, 401, 403)
    [sexchange] = await _of_type(broker, "sexchange")
    assert (sexchange["client_id"], sexchange["user_id"], sexchange["connection"]) == (
        app["client_id"], ALICE, "acme-oidc")
    assert sexchange["details"]["identity_id"] == identity.id
    [fexchange] = await _of_type(broker, "fexchange")
    assert fexchange["client_id"] == app["client_id"] and fexchange["details"]["reason"]

    # A revocation requested through the API, then carried out upstream.
    path = (f"users/{quote(ALICE, safe='')}/identities/oidc/"
            f"{quote(identity.idp_user_id, safe='')}/tokens")
    assert (await broker.mgmt("DELETE", path, token=reader)).status_code == 204
    [requested] = await _of_type(broker, "revoke_requested")
    assert (requested["client_id"], requested["user_id"], requested["connection"],
            requested["ip"]) == (reader_id, ALICE, "acme-oidc", LOOPBACK)
    assert requested["details"]["identity_id"] == identity.id
    await revocation.settle()  # the attempt made right after the request
    await revocation.run_once(broker.runtime)
    [revoked] = await _of_type(broker, "sidp_revoke")
    assert (revoked["user_id"], revoked["connection"]) == (ALICE, "acme-oidc")

    # No credential anywhere in the audit log: every token the upstream issued, ours, the
    # exchanged one, both client secrets, the authorization code.
    canaries = {v for body in broker.upstream.issued for k, v in body.items()
                if k in ("access_token", "refresh_token", "id_token") and v}
    canaries |= {ours["access_token"], ours["refresh_token"], ours["id_token"],
                 granted.json()["access_token"], app["client_secret"], reader_secret,
                 reader, login.params["code"]}
    assert len(canaries) >= 10
    dump = json.dumps(await _audit_rows(broker), default=str)
    assert not [c for c in canaries if c in dump]


async def test_record_token_event_writes_who_what_where_and_refuses_credentials(
        broker: Broker) -> None:
    store = broker.runtime.store
    code = await audit.record_token_event(
        store, action="refresh", outcome="failure", client_id="cli_1", user_id=ALICE,
        connection="acme-oidc", identity_id="idn_1", ip="198.51.100.7", actor="system",
        reason="upstream said: the token ya29.SECRET is bad",
        details={"attempts": 2, "via": "refresh_ahead"})
    assert code == "idp_token_refresh_failed"
    [row] = await _of_type(broker, code)
    assert (row["client_id"], row["user_id"], row["connection"], row["ip"]) == (
        "cli_1", ALICE, "acme-oidc", "198.51.100.7")
    assert row["details"] == {"action": "refresh", "outcome": "failure", "identity_id": "idn_1",
                              "actor": "system", "reason": "error", "attempts": 2,
                              "via": "refresh_ahead"}
    assert "ya29" not in json.dumps(row["details"])

    for details in ({"access_token": "x"}, {"upstream": {"refresh_token": "x"}},
                    {"client_secret": "x"}, {"code": "x"}):
        with pytest.raises(ValueError):
            await audit.record_token_event(
                store, action="read", outcome="success", client_id=None, user_id=ALICE,
                connection=None, identity_id=None, details=details)
    with pytest.raises(ValueError):
        await audit.record_token_event(store, action="read", outcome="exploded", client_id=None,
                                       user_id=None, connection=None, identity_id=None)
    assert len(await _audit_rows(broker)) == 1


async def test_exchange_records_say_from_where(broker: Broker) -> None:
    app = await broker.web_app(
        grant_types=["authorization_code", "refresh_token", tx.AUTH0_GRANT],
        token_exchange={"allowed_connections": ["acme-oidc"]})
    await broker.oidc_connection([app["client_id"]])
    ours = (await broker.exchange(app, await broker.login(app))).json()
    granted = await broker.http.post("/oauth/token", json={
        "client_id": app["client_id"], "client_secret": app["client_secret"],
        "grant_type": tx.AUTH0_GRANT, "subject_token_type": tx.REFRESH_TOKEN,
        "subject_token": ours["refresh_token"],
        "requested_token_type": tx.FEDERATED_ACCESS_TOKEN, "connection": "acme-oidc"})
    assert granted.status_code == 200
    [record] = await _of_type(broker, "sexchange")
    assert record["ip"] == LOOPBACK
