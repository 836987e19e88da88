"""The rule that never bends: no IdP token, refresh token, client secret or authorization code
in clear text in the database (file and WAL), in a log line, or in an error body."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from idbroker.oauth.sessions import SESSION_COOKIE
from idbroker.vault.schema import metadata
from tests.support import Broker


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"="),
            base64.urlsafe_b64encode(raw).rstrip(b"=")]


async def _stored_bytes(broker: Broker, data_dir: Path) -> bytes:
    url = broker.runtime.settings.sqlalchemy_url
    if url.startswith("sqlite"):
        files = [p for p in data_dir.iterdir() if p.name.startswith("idbroker.db")]
        assert any(p.name.endswith("-wal") for p in files), "expected a WAL file under SQLite"
        return b"".join(p.read_bytes() for p in files)
    dump = []
    async with broker.runtime.store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                dump.append(repr(tuple(row)).encode())
    return b"\n".join(dump)


async def test_canary_tokens_never_stored_or_logged_in_clear(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = await broker.web_app()
    connection = await broker.oidc_connection([app["client_id"]])
    login = await broker.login(app)
    session_cookie = broker.http.cookies[SESSION_COOKIE]
    code = login.params["code"]
    tokens = (await broker.exchange(app, login)).json()
    upstream = broker.upstream.issued[-1]
    # A second login rotates the stored tokens; both generations are canaries.
    second = await broker.exchange(app, await broker.login(app))
    assert second.status_code == 200
    upstream_again = broker.upstream.issued[-1]

    # Errors on the way must not echo anything either.
    bad = await broker.http.post("/oauth/token", json={
        "grant_type": "authorization_code", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "code": code, "redirect_uri": "x"})
    assert bad.status_code == 400
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    read = await broker.user("oidc|acme-oidc|alice", reader)
    assert read.status_code == 200

    canaries = {
        "upstream access token": upstream["access_token"],
        "upstream refresh token": upstream["refresh_token"],
        "upstream id token": upstream["id_token"],
        "rotated upstream access token": upstream_again["access_token"],
        "upstream client secret": broker.upstream.client_secret,
        "app client secret": app["client_secret"],
        "authorization code": code,
        "our refresh token": tokens["refresh_token"],
        "login session cookie": session_cookie,
        "second login session cookie": broker.http.cookies[SESSION_COOKIE],
    }
    stored = await _stored_bytes(broker, broker.runtime.settings.data_dir)
    logs = caplog.text.encode()
    for name, secret in canaries.items():
        for form in _forms(secret):
            assert form not in stored, f"{name} stored in clear"
            assert form not in logs, f"{name} in the logs"
    for secret in (upstream["access_token"], upstream["refresh_token"], code):
        assert secret not in bad.text
    assert connection["options"].get("client_secret") is None


async def test_a_sealed_token_moved_to_another_row_does_not_open(broker: Broker) -> None:
    """Associated data binds each ciphertext to its identity row."""
    from idbroker.errors import VaultError
    from idbroker.vault import schema as t

    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    broker.upstream.add_user("mallory")
    broker.upstream.set_login("mallory")
    await broker.login(app)
    store = broker.runtime.store
    alice = await store.get_user("oidc|acme-oidc|alice")
    mallory = await store.get_user("oidc|acme-oidc|mallory")
    assert alice and mallory
    async with store.engine.begin() as conn:
        await conn.execute(t.identities.update().where(
            t.identities.c.id == mallory.identities[0].id).values(
            tokens_sealed=alice.identities[0].tokens_sealed))
    moved = await store.get_user("oidc|acme-oidc|mallory")
    assert moved is not None
    with pytest.raises(VaultError):
        store.open_tokens(moved.identities[0])
    # Through the API the damaged identity is served without tokens, never with another's.
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    response = await broker.user("oidc|acme-oidc|mallory", reader)
    assert response.status_code == 200
    assert "access_token" not in response.json()["identities"][0]
    assert response.json()["identities"][0]["token_status"] == "unreadable"


async def test_passwords_and_their_tickets_never_stored_logged_or_echoed(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    """Database connections: a password exists only as its argon2id hash; login and reset
    tickets only as keyed digests; no error body repeats a password."""
    import secrets as random

    from tests.functional.dbconnections.conftest import link_in, outbox, ticket_of

    caplog.set_level(logging.DEBUG)
    app = await broker.web_app(web_origins=["https://app.example.test"])
    created = await broker.mgmt("POST", "connections", json={
        "name": "Users", "strategy": "auth0", "enabled_clients": [app["client_id"]],
        "options": {"passwordPolicy": "fair"}})
    assert created.status_code == 201
    canary = lambda: f"Canary{random.token_hex(8)}A1"  # noqa: E731
    signed_up, wrong, by_admin, patched, reset_to = (canary() for _ in range(5))
    weak = f"canaryweak{random.token_hex(8)}"
    bodies: list[str] = []

    async def post(path: str, **body: object) -> None:
        response = await broker.http.post(path, json={"client_id": app["client_id"],
                                                      "connection": "Users", **body})
        bodies.append(response.text)

    await post("/dbconnections/signup", email="jane@example.com", password=signed_up)
    await post("/dbconnections/signup", email="joe@example.com", password=weak)
    await post("/co/authenticate", username="jane@example.com", password=wrong, realm="Users")
    await post("/co/authenticate", username="nobody@example.com", password=wrong, realm="Users")
    ticket = (await broker.http.post("/co/authenticate", json={
        "client_id": app["client_id"], "username": "jane@example.com", "password": signed_up,
        "realm": "Users"})).json()["login_ticket"]
    admin = await broker.mgmt("POST", "users", json={
        "connection": "Users", "email": "ann@example.com", "password": by_admin})
    bodies.append((await broker.mgmt("POST", "users", json={
        "connection": "Users", "email": "bo@example.com", "password": weak})).text)
    from urllib.parse import quote
    path = f"users/{quote(admin.json()['user_id'], safe='')}"
    assert (await broker.mgmt("PATCH", path, json={"password": patched})).status_code == 200
    bodies.append((await broker.mgmt("PATCH", path, json={"password": weak})).text)
    await post("/dbconnections/change_password", email="jane@example.com")
    link = link_in(outbox(broker)[-1], "lo/reset")
    done = await broker.http.post("/lo/reset", headers={
        "Origin": "https://idbroker.example.test"}, data={
        "ticket": ticket_of(link), "password": reset_to, "password_confirm": reset_to})
    assert done.status_code == 200

    stored = await _stored_bytes(broker, broker.runtime.settings.data_dir)
    logs = caplog.text.encode()
    canaries = {"signup password": signed_up, "wrong password": wrong, "weak password": weak,
                "admin password": by_admin, "patched password": patched,
                "reset password": reset_to, "login ticket": ticket,
                "reset ticket": ticket_of(link)}
    for name, secret in canaries.items():
        for form in _forms(secret):
            assert form not in stored, f"{name} stored in clear"
            assert form not in logs, f"{name} in the logs"
        for body in bodies:
            assert secret not in body, f"{name} in an error body"
