"""Resource servers: the Management API resource, and access tokens for an app's own API by
client credentials and by a person's login."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support import ISSUER, Broker

API = "https://orders.example.test/api/"
MGMT = f"{ISSUER}api/v2/"


async def claims_of(broker: Broker, token: str) -> dict[str, Any]:
    jwks = (await broker.http.get("/.well-known/jwks.json")).json()
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims


async def create_api(broker: Broker, **extra: Any) -> dict[str, Any]:
    response = await broker.mgmt("POST", "resource-servers", json={
        "name": "Orders", "identifier": API, "token_lifetime": 600,
        "scopes": [{"value": "read:orders", "description": "Read orders"},
                   {"value": "write:orders", "description": "Write orders"}], **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def test_crud_paging_and_the_builtin_management_api(broker: Broker) -> None:
    api = await create_api(broker)
    assert api["identifier"] == API and api["signing_alg"] == "RS256" and not api["is_system"]
    assert api["token_lifetime"] == 600 and api["id"].startswith("rs_")
    assert api["scopes"][0] == {"value": "read:orders", "description": "Read orders"}

    listed = (await broker.mgmt("GET", "resource-servers")).json()
    assert [s["identifier"] for s in listed] == [MGMT, API]
    assert listed[0]["is_system"] is True
    assert {"value": "read:users", "description": "read:users"} in listed[0]["scopes"]
    page = (await broker.mgmt("GET", "resource-servers", params={
        "include_totals": "true", "page": "1", "per_page": "1"})).json()
    assert page["total"] == 2 and [s["id"] for s in page["resource_servers"]] == [api["id"]]
    checkpoint = (await broker.mgmt("GET", "resource-servers", params={"take": "1"})).json()
    assert checkpoint["next"] == "1" and len(checkpoint["resource_servers"]) == 1

    # By id, and by identifier (URL-encoded, as Auth0 allows) — both answer the same.
    by_id = (await broker.mgmt("GET", f"resource-servers/{api['id']}")).json()
    by_identifier = await broker.mgmt("GET", f"resource-servers/{quote(API, safe='')}")
    assert by_identifier.status_code == 200 and by_identifier.json() == by_id == api
    system = await broker.mgmt("GET", f"resource-servers/{quote(MGMT, safe='')}")
    assert system.json()["is_system"] is True

    patched = await broker.mgmt("PATCH", f"resource-servers/{api['id']}", json={
        "name": "Orders v2", "scopes": [{"value": "read:orders"}], "token_lifetime": 900})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Orders v2" and patched.json()["token_lifetime"] == 900
    assert patched.json()["scopes"] == [{"value": "read:orders", "description": ""}]

    for method in ("PATCH", "DELETE"):
        refused = await broker.mgmt(method, f"resource-servers/{listed[0]['id']}",
                                    **({"json": {"name": "x"}} if method == "PATCH" else {}))
        assert refused.status_code == 400 and refused.json()["errorCode"] == "operation_not_supported"

    assert (await broker.mgmt("DELETE", f"resource-servers/{api['id']}")).status_code == 204
    gone = await broker.mgmt("GET", f"resource-servers/{api['id']}")
    assert gone.status_code == 404 and gone.json()["errorCode"] == "inexistent_resource_server"


async def test_invalid_bodies_conflicts_and_scopes(broker: Broker) -> None:
    await create_api(broker)
    duplicate = await broker.mgmt("POST", "resource-servers", json={"name": "x", "identifier": API})
    assert duplicate.status_code == 409
    bad_bodies = [
        {"name": "x", "identifier": "urn:x", "signing_alg": "HS256"},
        {"name": "x", "identifier": MGMT},
        {"name": "x", "identifier": f"{ISSUER}userinfo"},
        {"name": "x", "identifier": "urn:x", "scopes": [{"value": "two words"}]},
        {"name": "x", "identifier": "urn:x", "scopes": [{"value": "a"}, {"value": "a"}]},
        {"name": "x", "identifier": "urn:x", "token_lifetime": 10},
        {"name": "x", "identifier": "urn:x", "token_lifetime": 10**9},
        {"name": "x", "identifier": "urn:x", "unknown_field": True},
        {"identifier": "urn:x"},
    ]
    for body in bad_bodies:
        response = await broker.mgmt("POST", "resource-servers", json=body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) >= {"statusCode", "error", "message"}
    reader = await broker.mgmt_token(["read:users"])
    for method, path in (("GET", "resource-servers"), ("POST", "resource-servers"),
                         ("DELETE", "resource-servers/x")):
        assert (await broker.mgmt(method, path, token=reader, json={})).status_code == 403


async def test_client_credentials_for_an_api(broker: Broker) -> None:
    await create_api(broker)
    created = (await broker.mgmt("POST", "clients", json={
        "name": "orders-worker", "app_type": "non_interactive"})).json()
    cid, secret = created["client_id"], created["client_secret"]
    # A grant may only name scopes the API defines.
    unknown = await broker.mgmt("POST", "client-grants", json={
        "client_id": cid, "audience": API, "scope": ["read:users"]})
    assert unknown.status_code == 400
    grant = await broker.mgmt("POST", "client-grants", json={
        "client_id": cid, "audience": API, "scope": ["read:orders"]})
    assert grant.status_code == 201, grant.text

    def ask(**extra: str) -> Any:
        return broker.http.post("/oauth/token", json={
            "grant_type": "client_credentials", "client_id": cid, "client_secret": secret,
            "audience": API, **extra})

    response = await ask()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "read:orders" and body["expires_in"] == 600
    claims = await claims_of(broker, body["access_token"])
    assert claims["aud"] == API and claims["sub"] == f"{cid}@clients"
    assert claims["exp"] - claims["iat"] == 600 and claims["gty"] == "client-credentials"

    assert (await ask(scope="write:orders")).json()["error"] == "invalid_scope"
    assert (await ask(audience="https://nope.example.test/")).json()["error"] == "access_denied"
    # An API token is not a Management API token, whatever its scopes.
    assert (await broker.mgmt("GET", "clients", token=body["access_token"])).status_code == 401

    # Deleting the API deletes its grants: a new API with the same identifier inherits none.
    assert (await broker.mgmt("DELETE", f"resource-servers/{quote(API, safe='')}")).status_code == 204
    assert (await ask()).json()["error"] == "access_denied"
    await create_api(broker)
    assert (await ask()).json()["error"] == "access_denied"


async def test_a_persons_token_for_an_api(broker: Broker) -> None:
    await create_api(broker, token_lifetime=1200)
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    login = await broker.login(
        app, audience=API,
        scope="openid profile offline_access read:orders read:users read:user_idp_tokens bogus")
    tokens = await broker.exchange(app, login)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    # RBAC off: the requested scopes the API defines, plus OpenID Connect ones; nothing else.
    assert body["scope"].split() == ["openid", "profile", "offline_access", "read:orders"]
    assert body["expires_in"] == 1200
    claims = await claims_of(broker, body["access_token"])
    assert claims["aud"] == [API, f"{ISSUER}userinfo"]
    assert claims["exp"] - claims["iat"] == 1200
    userinfo = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {body['access_token']}"})
    assert userinfo.status_code == 200
    assert (await broker.mgmt("GET", "users", token=body["access_token"])).status_code == 401

    # The refresh keeps the audience, and drops a scope the API no longer defines.
    await broker.mgmt("PATCH", f"resource-servers/{quote(API, safe='')}",
                      json={"scopes": [{"value": "write:orders"}]})
    refreshed = await broker.http.post("/oauth/token", json={
        "grant_type": "refresh_token", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert "read:orders" not in refreshed.json()["scope"].split()
    assert (await claims_of(broker, refreshed.json()["access_token"]))["aud"][0] == API

    unknown = await broker.start(broker.authorize_params(app, audience="https://nope.test/")[0])
    assert unknown.status_code == 302 and "error=access_denied" in unknown.headers["location"]
