"""A person's login, as the app and the upstream see it."""

from __future__ import annotations


from tests.support import APP_CALLBACK, ISSUER, Broker, query_of


async def test_hosted_login_page_lists_only_the_clients_connections(broker: Broker) -> None:
    app = await broker.web_app()
    other = await broker.web_app()
    await broker.oidc_connection([app["client_id"]], name="acme-oidc")
    await broker.oidc_connection([other["client_id"]], name="elsewhere")
    params, _, _ = broker.authorize_params(app, connection=None)
    page = await broker.start(params)
    assert page.status_code == 200
    assert "acme-oidc" in page.text and "elsewhere" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_connection_scope_and_upstream_params_reach_the_upstream(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]], upstream_params={
        "screen_hint": {"value": "signin"}, "login_hint": {"alias": "login_hint"}})
    params, _, _ = broker.authorize_params(
        app, connection_scope="https://api.example.test/calendar,contacts.read",
        login_hint="alice@example.com", prompt="login")
    response = await broker.start(params)
    upstream = query_of(response.headers["location"])
    assert upstream["scope"].split() == ["openid", "profile", "email", "offline_access",
                                         "https://api.example.test/calendar", "contacts.read"]
    assert upstream["screen_hint"] == "signin" and upstream["login_hint"] == "alice@example.com"
    assert upstream["prompt"] == "login"
    assert upstream["redirect_uri"] == f"{ISSUER}login/callback"
    assert upstream["code_challenge_method"] == "S256" and len(upstream["code_challenge"]) == 43
    assert upstream["state"] != params["state"] and upstream["nonce"] != params["nonce"]


async def test_repeat_login_updates_profile_keeps_refresh_token_and_counts(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    first = broker.upstream.issued[-1]
    broker.upstream.replace_user("alice", name="Alice Renamed", email="new@example.com")
    broker.upstream.hooks.omit_refresh_token = True
    await broker.login(app)
    second = broker.upstream.issued[-1]
    assert "refresh_token" not in second

    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    user = (await broker.user("oidc|acme-oidc|alice", reader)).json()
    assert user["name"] == "Alice Renamed" and user["email"] == "new@example.com"
    assert user["logins_count"] == 2 and len(user["identities"]) == 1
    assert user["identities"][0]["access_token"] == second["access_token"]
    assert user["identities"][0]["refresh_token"] == first["refresh_token"]
    for key in ("created_at", "updated_at", "last_login"):
        assert user[key].endswith("Z") and len(user[key]) == 24


async def test_same_email_on_another_subject_is_another_user(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    broker.upstream.add_user("impostor", email="alice@example.com")
    broker.upstream.set_login("impostor")
    await broker.login(app)
    reader = await broker.mgmt_token(["read:users"])
    alice = (await broker.user("oidc|acme-oidc|alice", reader)).json()
    impostor = (await broker.user("oidc|acme-oidc|impostor", reader)).json()
    assert alice["user_id"] != impostor["user_id"]
    assert alice["logins_count"] == 1 and impostor["logins_count"] == 1


async def test_upstream_denial_and_outage_end_at_the_app_with_its_state(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    broker.upstream.set_login(None)
    params, _, _ = broker.authorize_params(app)
    started = await broker.start(params)
    upstream_state = query_of(started.headers["location"])["state"]
    denied = await broker.http.get(f"{ISSUER}login/callback", params={
        "error": "access_denied", "error_description": "<script>alert(1)</script>",
        "state": upstream_state, "iss": broker.upstream.issuer})
    assert denied.status_code == 302
    result = query_of(denied.headers["location"])
    assert result["error"] == "access_denied" and result["state"] == params["state"]
    assert "<script>" not in denied.headers["location"] and result["iss"] == ISSUER

    broker.upstream.set_login("alice")
    broker.upstream.hooks.token_status = 503
    params, _, _ = broker.authorize_params(app)
    outage = await broker.callback(await broker.through_upstream(await broker.start(params)))
    result = query_of(outage.headers["location"])
    assert outage.headers["location"].startswith(APP_CALLBACK)
    assert result["error"] == "temporarily_unavailable" and result["state"] == params["state"]

    broker.upstream.hooks.token_status = None
    broker.upstream.hooks.token_delay = 3.0  # beyond the 2 s upstream timeout of the tests
    params, _, _ = broker.authorize_params(app)
    slow = await broker.callback(await broker.through_upstream(await broker.start(params)))
    assert query_of(slow.headers["location"])["error"] == "temporarily_unavailable"


async def test_refresh_rotation_userinfo_revoke_and_logout(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    tokens = (await broker.exchange(app, await broker.login(app))).json()
    info = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.json()["sub"] == "oidc|acme-oidc|alice" and info.json()["email_verified"] is True

    refreshed = await broker.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": app["client_id"], "client_secret": app["client_secret"]})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"] and "id_token" in new

    revoked = await broker.http.post("/oauth/revoke", json={
        "client_id": app["client_id"], "client_secret": app["client_secret"],
        "token": new["refresh_token"]})
    assert revoked.status_code == 200
    again = await broker.http.post("/oauth/token", json={
        "grant_type": "refresh_token", "refresh_token": new["refresh_token"],
        "client_id": app["client_id"], "client_secret": app["client_secret"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    gone = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {new['access_token']}"})
    assert gone.status_code == 401

    out = await broker.http.get("/v2/logout", params={
        "client_id": app["client_id"], "returnTo": "https://app.example.test/"})
    assert out.status_code == 302 and out.headers["location"] == "https://app.example.test/"
    evil = await broker.http.get("/v2/logout", params={
        "client_id": app["client_id"], "returnTo": "https://evil.example/"})
    assert evil.status_code == 400 and "location" not in evil.headers


async def test_spa_client_public_pkce_flow_with_form_body(broker: Broker) -> None:
    spa = await broker.web_app(app_type="spa")
    assert "client_secret" not in spa
    await broker.oidc_connection([spa["client_id"]])
    no_pkce, _, _ = broker.authorize_params(spa, pkce=False)
    refused = await broker.start(no_pkce)
    assert query_of(refused.headers["location"])["error"] == "invalid_request"
    login = await broker.login(spa)
    response = await broker.http.post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": spa["client_id"],
        "code": login.params["code"], "redirect_uri": APP_CALLBACK,
        "code_verifier": login.code_verifier})
    assert response.status_code == 200, response.text
    assert {"access_token", "id_token", "expires_in"} <= set(response.json())


async def test_oauth2_connection_maps_the_profile_declaratively(broker: Broker) -> None:
    app = await broker.web_app()
    issuer = broker.upstream.issuer
    response = await broker.mgmt("POST", "connections", json={
        "name": "custom-oauth", "strategy": "oauth2", "enabled_clients": [app["client_id"]],
        "options": {"authorizationURL": f"{issuer}/authorize", "tokenURL": f"{issuer}/token",
                    "profileURL": f"{issuer}/userinfo", "client_id": broker.upstream.client_id,
                    "client_secret": broker.upstream.client_secret,
                    "scope": "openid profile email",
                    "profile_map": {"user_id": "sub", "nickname": "nickname"}}})
    assert response.status_code == 201, response.text
    await broker.login(app, connection="custom-oauth")
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    user = (await broker.user("oauth2|custom-oauth|alice", reader)).json()
    assert user["identities"][0]["provider"] == "oauth2"
    assert user["identities"][0]["connection"] == "custom-oauth"
    assert user["identities"][0]["access_token"] == broker.upstream.issued[-1]["access_token"]
    assert user["nickname"] == "alice" and user["email_verified"] is True
    assert user["identities"][0]["user_id"] == "custom-oauth|alice"
