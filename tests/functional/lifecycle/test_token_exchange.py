"""Token exchange for a person's upstream access token at /oauth/token (issue 4 item 6):
Auth0's federated-connection grant (auth0_compat.md §2.1 e) and RFC 8693, with the rows F4–F9
of security_tests.md: per-client allow-list (default none), subject tokens bound to the
client and to their declared type, a refresh token never consumed, no delegation, bounded
sizes, and every exchange audited without a token value."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from idbroker.oauth.grants import token_exchange as tx
from idbroker.vault import schema as t
from tests.support import Broker

ALICE = "oidc|acme-oidc|alice"
BASE_GRANTS = ["authorization_code", "refresh_token"]
EXCHANGE_GRANTS = [*BASE_GRANTS, tx.AUTH0_GRANT, tx.RFC8693_GRANT]


@dataclass
class World:
    app: dict[str, Any]
    ours: dict[str, Any]  # idbroker's token response to the app
    upstream: dict[str, Any]  # the upstream's token response stored for Alice


async def world(broker: Broker, allowed: list[str] | None = None,
                grant_types: list[str] | None = None) -> World:
    extra: dict[str, Any] = {"grant_types": grant_types or EXCHANGE_GRANTS}
    if allowed is not None:
        extra["token_exchange"] = {"allowed_connections": allowed}
    app = await broker.web_app(**extra)
    await broker.oidc_connection([app["client_id"]])
    return await sign_in(broker, app)


async def sign_in(broker: Broker, app: dict[str, Any]) -> World:
    response = await broker.exchange(app, await broker.login(app))
    assert response.status_code == 200, response.text
    return World(app, response.json(), broker.upstream.issued[-1])


async def another_app(broker: Broker, allowed: list[str]) -> dict[str, Any]:
    app = await broker.web_app(grant_types=EXCHANGE_GRANTS,
                               token_exchange={"allowed_connections": allowed})
    connection = await broker.runtime.store.get_connection_by_name("acme-oidc")
    assert connection is not None
    await broker.mgmt("PATCH", f"connections/{connection.id}", json={
        "enabled_clients": [*connection.enabled_clients, app["client_id"]]})
    return app


async def auth0(broker: Broker, app: dict[str, Any], subject: str,
                subject_type: str = tx.REFRESH_TOKEN, **extra: str) -> httpx.Response:
    """As auth0-python's GetToken.access_token_for_connection sends it."""
    return await broker.http.post("/oauth/token", json={
        "client_id": app["client_id"], "client_secret": app["client_secret"],
        "grant_type": tx.AUTH0_GRANT, "subject_token_type": subject_type,
        "subject_token": subject, "requested_token_type": tx.FEDERATED_ACCESS_TOKEN,
        "connection": "acme-oidc", "login_hint": None, **extra})


async def rfc8693(broker: Broker, app: dict[str, Any], subject: str,
                  subject_type: str = tx.ACCESS_TOKEN, **extra: str) -> httpx.Response:
    body = {"grant_type": tx.RFC8693_GRANT, "subject_token_type": subject_type,
            "subject_token": subject, "audience": "acme-oidc", **extra}
    return await broker.http.post("/oauth/token", data={k: v for k, v in body.items() if v},
                                  auth=(app["client_id"], app["client_secret"]))


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()["error"]


async def audit_rows(broker: Broker, *types: str) -> list[dict[str, Any]]:
    return [r for r in await broker.runtime.store.list_audit(limit=500) if r["type"] in types]


# --- the happy paths ------------------------------------------------------------------------


async def test_auth0_grant_with_a_refresh_token_does_not_consume_it(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    for _ in range(2):
        response = await auth0(broker, w.app, w.ours["refresh_token"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["access_token"] == w.upstream["access_token"]
        assert body["issued_token_type"] == tx.FEDERATED_ACCESS_TOKEN
        assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600
        assert "openid" in body["scope"].split()
        assert response.headers["cache-control"] == "no-store"
    # The app's refresh token still works at the refresh grant: never rotated or used.
    refreshed = await broker.http.post("/oauth/token", json={
        "grant_type": "refresh_token", "refresh_token": w.ours["refresh_token"],
        "client_id": w.app["client_id"], "client_secret": w.app["client_secret"]})
    assert refreshed.status_code == 200, refreshed.text
    # The upstream's own API accepts what the app got.
    async with httpx.AsyncClient(transport=broker.upstream.transport()) as idp:
        me = await idp.get(broker.upstream.idp.url("/api/me"),
                           headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["sub"] == "alice"
    [*records] = await audit_rows(broker, "sexchange")
    assert len(records) == 2 and records[0]["client_id"] == w.app["client_id"]
    assert records[0]["user_id"] == ALICE and records[0]["connection"] == "acme-oidc"


async def test_access_token_subjects_and_rfc8693_targets(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    via_auth0 = await auth0(broker, w.app, w.ours["access_token"], tx.ACCESS_TOKEN)
    assert via_auth0.status_code == 200, via_auth0.text
    plain = await rfc8693(broker, w.app, w.ours["access_token"])
    assert plain.status_code == 200, plain.text
    assert plain.json()["issued_token_type"] == tx.IDP_ACCESS_TOKEN
    assert plain.json()["access_token"] == w.upstream["access_token"]
    by_resource = await rfc8693(broker, w.app, w.ours["refresh_token"], tx.REFRESH_TOKEN,
                                audience="", resource="urn:idbroker:connection:acme-oidc",
                                requested_token_type=tx.FEDERATED_ACCESS_TOKEN)
    assert by_resource.status_code == 200, by_resource.text
    assert by_resource.json()["issued_token_type"] == tx.FEDERATED_ACCESS_TOKEN
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"],
                                  resource="urn:idbroker:connection:other")) \
        == (400, "invalid_request")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"], audience="",
                                  resource="https://api.example.test/")) == (400, "invalid_target")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"], audience="")) \
        == (400, "invalid_request")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"],
                                  requested_token_type=tx.ACCESS_TOKEN)) == (400, "invalid_request")


# --- F7: who may exchange what ---------------------------------------------------------------


async def test_allow_list_is_empty_by_default(broker: Broker) -> None:
    w = await world(broker)  # has both grant types but no token_exchange property
    assert (await broker.mgmt("GET", f"clients/{w.app['client_id']}")).json()[
        "token_exchange"] == {"allowed_connections": []}
    assert error_of(await auth0(broker, w.app, w.ours["refresh_token"])) \
        == (403, "unauthorized_client")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"])) \
        == (400, "unauthorized_client")
    assert broker.upstream.calls["token"] == 1  # only the login: no refresh was attempted
    refused = await audit_rows(broker, "fexchange")
    assert len(refused) == 2 and all(r["details"]["reason"] == "no_permission" for r in refused)


async def test_a_connection_missing_from_the_list_is_refused(broker: Broker) -> None:
    w = await world(broker, allowed=["other-idp"])
    assert error_of(await auth0(broker, w.app, w.ours["refresh_token"])) \
        == (403, "unauthorized_client")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"])) \
        == (400, "invalid_target")
    # A client without the grant type is refused by the token endpoint itself.
    patched = await broker.mgmt("PATCH", f"clients/{w.app['client_id']}", json={
        "grant_types": BASE_GRANTS, "token_exchange": {"allowed_connections": ["acme-oidc"]}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["token_exchange"] == {"allowed_connections": ["acme-oidc"]}
    assert error_of(await auth0(broker, w.app, w.ours["refresh_token"])) \
        == (400, "unauthorized_client")


async def test_allowed_connections_are_validated(broker: Broker) -> None:
    for bad in (["has space"], [""], "acme-oidc", [1]):
        response = await broker.mgmt("POST", "clients", json={
            "name": "x", "token_exchange": {"allowed_connections": bad}})
        assert response.status_code == 400, (bad, response.text)
    ignored = await broker.mgmt("POST", "clients", json={"name": "x", "token_exchange": {
        "allow_any_profile_of_type": ["custom_authentication"]}})
    assert ignored.status_code == 201
    assert ignored.json()["token_exchange"] == {"allowed_connections": []}


# --- F4–F6, F8, F9: the subject token ----------------------------------------------------------


async def test_another_clients_subject_tokens_are_refused(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    thief = await another_app(broker, ["acme-oidc"])
    assert error_of(await auth0(broker, thief, w.ours["refresh_token"])) \
        == (401, "federated_connection_refresh_token_not_found")
    assert error_of(await auth0(broker, thief, w.ours["access_token"], tx.ACCESS_TOKEN)) \
        == (401, "federated_connection_refresh_token_not_found")
    assert error_of(await rfc8693(broker, thief, w.ours["access_token"])) \
        == (400, "invalid_request")
    assert error_of(await rfc8693(broker, thief, w.ours["refresh_token"], tx.REFRESH_TOKEN)) \
        == (400, "invalid_request")
    # The owner's tokens are untouched by the attempts.
    assert (await auth0(broker, w.app, w.ours["refresh_token"])).status_code == 200


async def test_token_type_confusion_and_bad_subjects_are_refused(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    not_found = (401, "federated_connection_refresh_token_not_found")
    # F6: an ID token or a refresh token presented as an access token, and the reverse.
    assert error_of(await auth0(broker, w.app, w.ours["id_token"], tx.ACCESS_TOKEN)) == not_found
    assert error_of(await auth0(broker, w.app, w.ours["refresh_token"], tx.ACCESS_TOKEN)) \
        == not_found
    assert error_of(await auth0(broker, w.app, w.ours["access_token"])) == not_found
    assert error_of(await rfc8693(broker, w.app, w.ours["id_token"])) == (400, "invalid_request")
    for other_type in ("urn:ietf:params:oauth:token-type:id_token",
                       "urn:ietf:params:oauth:token-type:jwt"):
        assert error_of(await auth0(broker, w.app, w.ours["id_token"], other_type)) \
            == (400, "invalid_request")
    # F5: forged, garbage, or a machine-to-machine token.
    forged = w.ours["access_token"][:-4] + ("AAAA" if not w.ours["access_token"].endswith(
        "AAAA") else "BBBB")
    assert error_of(await rfc8693(broker, w.app, forged)) == (400, "invalid_request")
    assert error_of(await auth0(broker, w.app, "not-a-token")) == not_found
    assert error_of(await rfc8693(broker, w.app, await broker.admin_token())) \
        == (400, "invalid_request")
    # F8: no delegation; no wider scope than the upstream granted.
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"],
                                  actor_token=w.ours["access_token"],
                                  actor_token_type=tx.ACCESS_TOKEN)) == (400, "invalid_request")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"],
                                  scope="openid https://mail.example/all")) \
        == (400, "invalid_scope")
    # F9: an oversized subject token never falls back to anything.
    for size in (9000, 1_000_000):
        response = await auth0(broker, w.app, "x" * size)
        assert error_of(response) == (400, "invalid_request")
        assert "access_token" not in response.json()
    assert await audit_rows(broker, "sexchange") == []


async def test_used_or_revoked_subject_tokens_are_refused(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    rotated = await broker.http.post("/oauth/token", json={
        "grant_type": "refresh_token", "refresh_token": w.ours["refresh_token"],
        "client_id": w.app["client_id"], "client_secret": w.app["client_secret"]})
    assert rotated.status_code == 200
    not_found = (401, "federated_connection_refresh_token_not_found")
    assert error_of(await auth0(broker, w.app, w.ours["refresh_token"])) == not_found
    fresh = rotated.json()["refresh_token"]
    assert (await auth0(broker, w.app, fresh)).status_code == 200
    revoked = await broker.http.post("/oauth/revoke", data={
        "token": fresh, "client_id": w.app["client_id"], "client_secret": w.app["client_secret"]})
    assert revoked.status_code == 200
    assert error_of(await auth0(broker, w.app, fresh)) == not_found
    assert error_of(await auth0(broker, w.app, rotated.json()["access_token"], tx.ACCESS_TOKEN)) \
        == not_found


# --- the identity and its upstream token -------------------------------------------------------


async def test_no_identity_or_revoked_tokens_on_the_connection(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc", "other-idp"])
    other = await auth0(broker, w.app, w.ours["refresh_token"], connection="other-idp")
    assert error_of(other) == (401, "federated_connection_refresh_token_not_found")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"], audience="other-idp")) \
        == (400, "invalid_target")
    hinted = await auth0(broker, w.app, w.ours["refresh_token"], login_hint="bob")
    assert error_of(hinted) == (401, "federated_connection_refresh_token_not_found")
    assert (await auth0(broker, w.app, w.ours["refresh_token"], login_hint="alice")
            ).status_code == 200
    path = (f"users/{quote(ALICE, safe='')}/identities/oidc/"
            f"{quote('acme-oidc|alice', safe='')}/tokens")
    assert (await broker.mgmt("DELETE", path)).status_code == 204
    assert error_of(await auth0(broker, w.app, w.ours["refresh_token"])) \
        == (401, "federated_connection_refresh_token_not_found")


async def test_a_stale_upstream_token_is_refreshed_first(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    broker.runtime.settings.refresh_margin_s = 10**6  # every stored token counts as stale
    response = await auth0(broker, w.app, w.ours["refresh_token"])
    assert response.status_code == 200, response.text
    assert broker.upstream.calls["token"] == 2  # login + one refresh
    renewed = broker.upstream.issued[-1]["access_token"]
    assert response.json()["access_token"] == renewed != w.upstream["access_token"]


async def test_a_dead_upstream_grant_fails_the_flow(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    broker.runtime.settings.refresh_margin_s = 10**6
    broker.upstream.hooks.token_error = "invalid_grant"
    assert error_of(await auth0(broker, w.app, w.ours["refresh_token"])) \
        == (401, "federated_connection_refresh_token_flow_failed")
    assert error_of(await rfc8693(broker, w.app, w.ours["access_token"])) \
        == (400, "invalid_grant")
    failed = await audit_rows(broker, "fexchange")
    assert {r["details"]["reason"] for r in failed} == {"refresh_failed"}


async def test_exchanges_never_store_or_log_token_values(broker: Broker) -> None:
    w = await world(broker, allowed=["acme-oidc"])
    assert (await auth0(broker, w.app, w.ours["refresh_token"])).status_code == 200
    thief = await another_app(broker, ["acme-oidc"])
    assert (await auth0(broker, thief, w.ours["refresh_token"])).status_code == 401
    async with broker.runtime.store.engine.connect() as conn:
        text = "\n".join(repr(tuple(r)) for r in await conn.execute(sa.select(t.audit_log)))
    for value in (w.ours["refresh_token"], w.ours["access_token"], w.upstream["access_token"],
                  w.upstream["refresh_token"]):
        for form in (value, base64.b64encode(value.encode()).decode().rstrip("=")):
            assert form not in text
