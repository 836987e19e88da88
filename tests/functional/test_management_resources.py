"""Clients, connections, client grants and the user read, in Auth0's shapes."""

from __future__ import annotations

from tests.support import ISSUER, Broker


async def test_clients_crud_secret_shown_once(broker: Broker) -> None:
    created = await broker.mgmt("POST", "clients", json={
        "name": "Shop", "app_type": "regular_web", "callbacks": ["https://shop.example/cb"]})
    assert created.status_code == 201
    body = created.json()
    assert body["grant_types"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert body["token_endpoint_auth_method"] == "client_secret_post" and body["client_secret"]
    fetched = (await broker.mgmt("GET", f"clients/{body['client_id']}")).json()
    assert "client_secret" not in fetched and fetched["callbacks"] == ["https://shop.example/cb"]
    listed = (await broker.mgmt("GET", "clients")).json()
    assert body["client_secret"] not in str(listed)
    patched = await broker.mgmt("PATCH", f"clients/{body['client_id']}", json={
        "callbacks": ["https://shop.example/cb2"]})
    assert patched.status_code == 200 and patched.json()["callbacks"] == ["https://shop.example/cb2"]
    rotated = (await broker.mgmt("POST", f"clients/{body['client_id']}/rotate-secret")).json()
    assert rotated["client_secret"] != body["client_secret"]
    assert (await broker.mgmt("DELETE", f"clients/{body['client_id']}")).status_code == 204
    missing = await broker.mgmt("GET", f"clients/{body['client_id']}")
    assert missing.status_code == 404
    assert missing.json() == {"statusCode": 404, "error": "Not Found",
                              "message": "The client does not exist",
                              "errorCode": "inexistent_client"}


async def test_client_validation_errors_are_auth0_shaped(broker: Broker) -> None:
    for body in ({"name": ""}, {"name": "x", "app_type": "robot"},
                 {"name": "x", "callbacks": ["https://a.example/*"]},
                 {"name": "x", "callbacks": ["javascript:alert(1)"]},
                 {"name": "x", "unknown": 1}):
        response = await broker.mgmt("POST", "clients", json=body)
        assert response.status_code == 400, body
        error = response.json()
        assert error["statusCode"] == 400 and error["error"] == "Bad Request"
        assert error["errorCode"] == "invalid_body"
        assert error["message"].startswith("Payload validation error")
    raw = await broker.mgmt("POST", "clients", content=b"{not json",
                            headers={"Content-Type": "application/json"})
    assert raw.status_code == 400 and raw.json()["errorCode"] == "invalid_body"


async def test_connections_validate_options_and_hide_the_secret(broker: Broker) -> None:
    app = await broker.web_app()
    cases = [
        ({"name": "bad name!", "strategy": "oidc"}, "name"),
        ({"name": "x", "strategy": "saml"}, "unknown strategy"),
        ({"name": "x", "strategy": "oidc", "options": {"client_id": "c"}}, "discovery_url"),
        ({"name": "x", "strategy": "oidc", "options": {
            "client_id": "c", "discovery_url": "https://i.example/.well-known/openid-configuration",
            "id_token_signed_response_algs": ["HS256"]}}, "asymmetric"),
        ({"name": "x", "strategy": "oauth2", "options": {"client_id": "c"}}, "authorizationURL"),
        ({"name": "x", "strategy": "oidc", "options": {
            "client_id": "c", "discovery_url": "https://i.example/.well-known/openid-configuration",
            "upstream_params": {"p": {"alias": "password"}}}}, "upstream_params"),
        ({"name": "x", "strategy": "oidc", "options": {
            "client_id": "c", "discovery_url": "https://i.example/.well-known/openid-configuration",
            "upstream_params": {"response_mode": {"value": "form_post"}}}}, "set by idbroker"),
        ({"name": "x", "strategy": "oidc", "enabled_clients": ["nope"], "options": {
            "client_id": "c", "discovery_url": "https://i.example/.well-known/openid-configuration"}},
         "enabled_clients"),
    ]
    for body, words in cases:
        response = await broker.mgmt("POST", "connections", json=body)
        assert response.status_code == 400, (body, response.text)
        assert words in response.json()["message"], response.json()

    created = await broker.oidc_connection([app["client_id"]])
    assert "client_secret" not in created["options"]
    assert created["enabled_clients"] == [app["client_id"]] and created["id"].startswith("con_")
    duplicate = await broker.mgmt("POST", "connections", json={
        "name": "acme-oidc", "strategy": "oidc", "options": created["options"]})
    assert duplicate.status_code == 409 and duplicate.json()["statusCode"] == 409
    listed = (await broker.mgmt("GET", "connections", params={"strategy": "oidc"})).json()
    assert [c["name"] for c in listed] == ["acme-oidc"]
    assert broker.upstream.client_secret not in str(listed)

    # PATCH without a new secret keeps the sealed one: a login still works afterwards.
    patched = await broker.mgmt("PATCH", f"connections/{created['id']}", json={
        "options": {**created["options"], "scope": "openid email"}})
    assert patched.status_code == 200 and patched.json()["options"]["scope"] == "openid email"
    await broker.login(app)
    assert (await broker.mgmt("DELETE", f"connections/{created['id']}")).status_code == 204


async def test_client_grants_crud_and_scope_rules(broker: Broker) -> None:
    client = (await broker.mgmt("POST", "clients", json={
        "name": "backend", "app_type": "non_interactive"})).json()
    bad_scope = await broker.mgmt("POST", "client-grants", json={
        "client_id": client["client_id"], "audience": f"{ISSUER}api/v2/", "scope": ["root"]})
    assert bad_scope.status_code == 400
    unknown_aud = await broker.mgmt("POST", "client-grants", json={
        "client_id": client["client_id"], "audience": "https://other/", "scope": ["read:users"]})
    assert unknown_aud.status_code == 400
    grant = await broker.mgmt("POST", "client-grants", json={
        "client_id": client["client_id"], "audience": f"{ISSUER}api/v2/",
        "scope": ["read:users"]})
    assert grant.status_code == 201
    grant_id = grant.json()["id"]
    again = await broker.mgmt("POST", "client-grants", json={
        "client_id": client["client_id"], "audience": f"{ISSUER}api/v2/", "scope": []})
    assert again.status_code == 409
    token = await broker.token_for(client["client_id"], client["client_secret"])
    assert token["scope"] == "read:users"
    narrowed = await broker.token_for(client["client_id"], client["client_secret"],
                                      scope="read:users")
    assert narrowed["scope"] == "read:users"
    wider = await broker.http.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"], "audience": f"{ISSUER}api/v2/",
        "scope": "read:users read:user_idp_tokens"})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"

    updated = await broker.mgmt("PATCH", f"client-grants/{grant_id}", json={
        "scope": ["read:users", "read:user_idp_tokens"]})
    assert updated.json()["scope"] == ["read:users", "read:user_idp_tokens"]
    by_client = (await broker.mgmt("GET", "client-grants",
                                   params={"client_id": client["client_id"]})).json()
    assert [g["id"] for g in by_client] == [grant_id]
    assert (await broker.mgmt("GET", f"client-grants/{grant_id}")).status_code == 200
    assert (await broker.mgmt("DELETE", f"client-grants/{grant_id}")).status_code == 204
    denied = await broker.http.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"], "audience": f"{ISSUER}api/v2/"})
    assert denied.status_code == 403 and denied.json()["error"] == "access_denied"


async def test_user_fields_and_include_fields(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    token = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    only = (await broker.user("oidc|acme-oidc|alice", token, fields="user_id,email",
                              include_fields="true")).json()
    assert only == {"user_id": "oidc|acme-oidc|alice", "email": "alice@example.com"}
    without = (await broker.user("oidc|acme-oidc|alice", token, fields="identities,email",
                                 include_fields="false")).json()
    assert "identities" not in without and "email" not in without and without["user_id"]
    audit = await broker.runtime.store.list_audit(user_id="oidc|acme-oidc|alice")
    assert not [e for e in audit if e["type"] == "mgmt_api_read"]  # no tokens were served
    missing = await broker.user("oidc|acme-oidc|nobody", token)
    assert missing.status_code == 404 and missing.json()["errorCode"] == "inexistent_user"
    bad = await broker.user("oidc|acme-oidc|alice", token, include_fields="maybe")
    assert bad.status_code == 400
    unknown_path = await broker.mgmt("GET", "nothing-here")
    assert unknown_path.status_code == 404 and unknown_path.json()["statusCode"] == 404


async def test_switching_a_client_between_public_and_confidential(broker: Broker) -> None:
    spa = await broker.web_app(app_type="spa")
    refused = await broker.mgmt("POST", f"clients/{spa['client_id']}/rotate-secret")
    assert refused.status_code == 400
    switched = (await broker.mgmt("PATCH", f"clients/{spa['client_id']}", json={
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"]})).json()
    assert switched["client_secret"]
    await broker.mgmt("POST", "client-grants", json={
        "client_id": spa["client_id"], "audience": f"{ISSUER}api/v2/", "scope": ["read:users"]})
    assert (await broker.token_for(spa["client_id"], switched["client_secret"]))["access_token"]
    back = (await broker.mgmt("PATCH", f"clients/{spa['client_id']}", json={
        "token_endpoint_auth_method": "none"})).json()
    assert "client_secret" not in back
    stale = await broker.http.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": spa["client_id"],
        "client_secret": switched["client_secret"], "audience": f"{ISSUER}api/v2/"})
    assert stale.status_code == 401


async def test_deleting_a_client_removes_it_from_connections(broker: Broker) -> None:
    app = await broker.web_app()
    connection = await broker.oidc_connection([app["client_id"]])
    assert (await broker.mgmt("DELETE", f"clients/{app['client_id']}")).status_code == 204
    after = (await broker.mgmt("GET", f"connections/{connection['id']}")).json()
    assert after["enabled_clients"] == []


async def test_failed_client_authentication_is_logged_without_the_secret(broker: Broker) -> None:
    client_id, secret = await broker.m2m_client(["read:users"])
    wrong = "not-the-secret-" + secret[:10]
    response = await broker.http.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": wrong,
        "audience": f"{ISSUER}api/v2/"})
    assert response.status_code == 401
    entries = [e for e in await broker.runtime.store.list_audit() if e["type"] == "feccft"]
    assert entries and entries[0]["client_id"] == client_id and entries[0]["ip"]
    assert wrong not in str(entries) and secret not in str(entries)
