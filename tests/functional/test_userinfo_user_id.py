"""/userinfo carries Auth0's ``user_id`` beside ``sub``: Lock's getUserInfo and auth0-js hand
the response to apps as the Auth0 profile, whose key is user_id (tests/browser/test_lock.py
runs Lock itself against it)."""

from __future__ import annotations

from tests.support import Broker


async def test_userinfo_has_user_id_equal_to_sub(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    tokens = (await broker.exchange(app, await broker.login(app))).json()

    info = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"})

    assert info.status_code == 200
    assert info.json()["user_id"] == info.json()["sub"] == "oidc|acme-oidc|alice"
