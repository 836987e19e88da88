"""GET .../identities/{provider}/{user_id}/tokens/validation (issue 4 item 5): the upstream
itself says whether the stored access token is live — RFC 7662 introspection when the
connection has an endpoint, else a probe — and the answer never echoes the token."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.support import Broker

ALICE = "oidc|acme-oidc|alice"


def validation_path(user_id: str, idp_user_id: str, provider: str = "oidc") -> str:
    return (f"users/{quote(user_id, safe='')}/identities/{provider}/"
            f"{quote(idp_user_id, safe='')}/tokens/validation")


async def revoke_upstream(broker: Broker, token: str) -> None:
    """The user withdraws consent at the provider: its grant dies there, not here."""
    idp = broker.upstream
    async with httpx.AsyncClient(transport=idp.transport()) as client:
        response = await client.post(idp.idp.url("/revoke"), data={
            "token": token, "client_id": idp.client_id, "client_secret": idp.client_secret})
    assert response.status_code == 200


def assert_no_token(body: Any, issued: dict[str, Any]) -> None:
    text = repr(body)
    for key in ("access_token", "refresh_token", "id_token"):
        assert issued[key] not in text
    if isinstance(body, dict):
        assert not {"access_token", "refresh_token"} & set(body)


async def test_introspection_reports_live_then_dead(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    assert (await broker.exchange(app, await broker.login(app))).status_code == 200
    issued = broker.upstream.issued[-1]
    checker = await broker.mgmt_token(["read:user_idp_tokens"])

    live = await broker.mgmt("GET", validation_path(ALICE, "acme-oidc|alice"), token=checker)
    assert live.status_code == 200, live.text
    body = live.json()
    assert body["active"] is True and body["method"] == "introspection"
    assert set(body["scope"].split()) >= {"openid", "offline_access"}
    assert 0 < body["expires_in"] <= 3600 and body["exp"] > 0
    assert body["checked_at"].endswith("Z")
    assert live.headers["cache-control"] == "no-store"
    assert_no_token(body, issued)
    assert broker.upstream.calls["introspect"] == 1

    await revoke_upstream(broker, issued["refresh_token"])
    dead = (await broker.mgmt("GET", validation_path(ALICE, "acme-oidc|alice"),
                              token=checker)).json()
    assert (dead["active"], dead["method"]) == (False, "introspection")
    assert "scope" not in dead and "exp" not in dead
    records = [r for r in await broker.runtime.store.list_audit(limit=50)
               if r["type"] == "idp_token_validate"]
    assert [r["details"]["outcome"] for r in records] == ["inactive", "active"]
    assert all(r["user_id"] == ALICE and r["connection"] == "acme-oidc" for r in records)
    assert_no_token(records, issued)


async def test_scope_and_missing_objects(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    assert (await broker.exchange(app, await broker.login(app))).status_code == 200
    reader = await broker.mgmt_token(["read:users"])
    refused = await broker.mgmt("GET", validation_path(ALICE, "acme-oidc|alice"), token=reader)
    assert (refused.status_code, refused.json()["errorCode"]) == (403, "insufficient_scope")
    checker = await broker.mgmt_token(["read:user_idp_tokens"])
    missing = await broker.mgmt("GET", validation_path(ALICE, "acme-oidc|zed"), token=checker)
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "inexistent_identity")
    nobody = await broker.mgmt("GET", validation_path("oidc|x|y", "x|y"), token=checker)
    assert (nobody.status_code, nobody.json()["errorCode"]) == (404, "inexistent_user")
    assert broker.upstream.calls["introspect"] == 0

    # Revoked here: nothing to ask the upstream about.
    revoked = await broker.mgmt("DELETE", validation_path(ALICE, "acme-oidc|alice")
                                .removesuffix("/validation"))
    assert revoked.status_code == 204
    body = (await broker.mgmt("GET", validation_path(ALICE, "acme-oidc|alice"),
                              token=checker)).json()
    assert (body["active"], body["method"]) == (False, "none")
    assert broker.upstream.calls["introspect"] == 0


async def oauth2_user(broker: Broker, **options: Any) -> dict[str, Any]:
    app = await broker.web_app()
    idp = broker.upstream
    created = await broker.mgmt("POST", "connections", json={
        "name": "acme-oauth2", "strategy": "oauth2", "enabled_clients": [app["client_id"]],
        "options": {"client_id": idp.client_id, "client_secret": idp.client_secret,
                    "authorizationURL": idp.idp.url("/authorize"),
                    "tokenURL": idp.idp.url("/token"), "profileURL": idp.idp.url("/userinfo"),
                    "profile_map": {"user_id": "sub"},
                    "scope": "openid profile email offline_access", **options}})
    assert created.status_code == 201, created.text
    assert (await broker.exchange(app, await broker.login(app, connection="acme-oauth2"))
            ).status_code == 200
    return broker.upstream.issued[-1]


async def test_oauth2_probe_at_the_validation_url(broker: Broker) -> None:
    issued = await oauth2_user(broker, validationURL=broker.upstream.idp.url("/api/me"))
    path = validation_path("oauth2|acme-oauth2|alice", "acme-oauth2|alice", "oauth2")
    live = await broker.mgmt("GET", path)
    assert live.status_code == 200, live.text
    assert (live.json()["active"], live.json()["method"]) == (True, "userinfo")
    assert live.json()["expires_in"] > 0  # from the stored expiry: a probe reports none
    assert broker.upstream.calls["api"] == 1 and broker.upstream.calls["introspect"] == 0
    await revoke_upstream(broker, issued["access_token"])
    dead = (await broker.mgmt("GET", path)).json()
    assert (dead["active"], dead["method"]) == (False, "userinfo")
    assert_no_token(dead, issued)


async def test_an_upstream_failure_is_a_502_without_a_guess(broker: Broker) -> None:
    issued = await oauth2_user(broker)  # probes profileURL (the userinfo endpoint)
    broker.upstream.hooks.userinfo_status = 500
    path = validation_path("oauth2|acme-oauth2|alice", "acme-oauth2|alice", "oauth2")
    failed = await broker.mgmt("GET", path)
    assert failed.status_code == 502, failed.text
    assert failed.json()["errorCode"] == "upstream_unavailable"
    assert_no_token(failed.json(), issued)
    broker.upstream.hooks.userinfo_status = None
    assert (await broker.mgmt("GET", path)).json()["active"] is True
