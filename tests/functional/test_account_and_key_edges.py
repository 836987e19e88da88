"""Edges an operator meets: re-created connections, re-pointed connections, vault key rotation."""

from __future__ import annotations

import secrets

import httpx

from idbroker.encoding import b64url_encode
from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.support import ISSUER, Broker, query_of


async def test_recreated_connection_starts_clean(broker: Broker) -> None:
    app = await broker.web_app()
    first = await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    assert (await broker.mgmt("DELETE", f"connections/{first['id']}")).status_code == 204
    assert await broker.runtime.store.get_user("oidc|acme-oidc|alice") is None
    await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    user = await broker.runtime.store.get_user("oidc|acme-oidc|alice")
    assert user is not None and user.logins_count == 1


async def test_connection_repointed_at_another_idp_never_inherits_its_users(
        broker: Broker) -> None:
    app = await broker.web_app()
    connection = await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    other = FakeOIDCUpstream(issuer="https://other-idp.example.test",
                             redirect_uris=[f"{ISSUER}login/callback"])
    assert isinstance(broker.runtime.http._transport, RoutingTransport)
    broker.runtime.http._transport.add(other.host, other.app)
    patched = await broker.mgmt("PATCH", f"connections/{connection['id']}", json={"options": {
        "discovery_url": other.discovery_url, "client_id": other.client_id,
        "client_secret": other.client_secret, "scope": "openid profile email"}})
    assert patched.status_code == 200
    params, _, _ = broker.authorize_params(app)
    started = await broker.start(params)
    async with httpx.AsyncClient(transport=other.transport()) as idp:
        upstream = await idp.get(started.headers["location"])
    refused = await broker.callback(upstream)
    assert refused.status_code == 302
    assert query_of(refused.headers["location"])["error"] == "access_denied"
    alice = await broker.runtime.store.get_user("oidc|acme-oidc|alice")
    assert alice is not None and alice.logins_count == 1
    assert alice.identities[0].issuer == broker.upstream.issuer


async def test_vault_key_rotation_keeps_secrets_and_tokens_working(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    tokens = (await broker.exchange(app, await broker.login(app))).json()
    backend_id, backend_secret = await broker.m2m_client(["read:users", "read:user_idp_tokens"])
    upstream_token = broker.upstream.issued[-1]["access_token"]

    old_key = broker.runtime.settings.vault_key.get_secret_value()  # type: ignore[union-attr]
    new_key = b64url_encode(secrets.token_bytes(32))
    rotated_settings = broker.runtime.settings.model_copy(
        update={"vault_key": type(broker.runtime.settings.vault_key)(f"{new_key},{old_key}")})
    rotated = await Runtime.start(rotated_settings, http=broker.runtime.http)
    try:
        app_asgi = create_app(runtime=rotated)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_asgi),
                                     base_url=ISSUER) as http:
            m2m = await http.post("/oauth/token", json={
                "grant_type": "client_credentials", "client_id": backend_id,
                "client_secret": backend_secret, "audience": f"{ISSUER}api/v2/"})
            assert m2m.status_code == 200, m2m.text
            user = await http.get("/api/v2/users/oidc%7Cacme-oidc%7Calice", headers={
                "Authorization": f"Bearer {m2m.json()['access_token']}"})
            assert user.json()["identities"][0]["access_token"] == upstream_token
            refreshed = await http.post("/oauth/token", json={
                "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                "client_id": app["client_id"], "client_secret": app["client_secret"]})
            assert refreshed.status_code == 200, refreshed.text
    finally:
        await rotated.store.engine.dispose()


async def test_concurrent_first_logins_of_one_account_all_succeed(broker: Broker) -> None:
    import asyncio

    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    results = await asyncio.gather(*(broker.login(app) for _ in range(6)))
    assert all("code" in r.params for r in results)
    user = await broker.runtime.store.get_user("oidc|acme-oidc|alice")
    assert user is not None and len(user.identities) == 1 and user.logins_count == 6
