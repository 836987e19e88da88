"""Database connections through the Management API, and sign-up at /dbconnections/signup."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tests.functional.dbconnections.conftest import PASSWORD, database_connection, signup
from tests.support import Broker


async def test_a_database_connection_is_validated_with_errors_that_name_the_option(
        broker: Broker, app: dict[str, Any]) -> None:
    for options, where in (({"passwordPolicy": "strong"}, "options.passwordPolicy"),
                           ({"password_complexity_options": {"min_length": 0}},
                            "options.password_complexity_options.min_length"),
                           ({"password_history": {"enable": True, "size": 5}},
                            "password_history is not supported"),
                           ({"requires_usernam": True}, "options.requires_usernam"),
                           ({"brute_force_protection": "yes"}, "options.brute_force_protection")):
        response = await broker.mgmt("POST", "connections", json={
            "name": "Users", "strategy": "auth0", "options": options})
        assert response.status_code == 400, options
        assert where in response.json()["message"], response.json()
    created = await database_connection(broker, [app["client_id"]], name="Username-Password",
                                        passwordPolicy="good", requires_username=True,
                                        password_complexity_options={"min_length": 9},
                                        # Auth0 options idbroker accepts and does not act on.
                                        enabledDatabaseCustomization=False, import_mode=False)
    assert created["strategy"] == "auth0"
    assert created["options"]["passwordPolicy"] == "good"


async def test_signup_creates_an_auth0_user_visible_in_the_management_api(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    response = await signup(broker, app, email="Jane@Example.com", given_name="Jane",
                            user_metadata={"plan": "free"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert re.fullmatch(r"[0-9a-f]{24}", body["_id"])
    assert body["email"] == "jane@example.com" and body["email_verified"] is False
    assert body["given_name"] == "Jane" and body["user_metadata"] == {"plan": "free"}

    reader = await broker.mgmt_token(["read:users"])
    user = (await broker.user(f"auth0|{body['_id']}", reader)).json()
    assert user["user_id"] == f"auth0|{body['_id']}"
    assert user["email"] == "jane@example.com" and user["email_verified"] is False
    assert user["identities"] == [{"connection": "Users", "provider": "auth0",
                                   "user_id": body["_id"], "isSocial": False}]
    assert "password" not in response.text and PASSWORD not in str(user)
    listed = (await broker.mgmt("GET", "users", token=reader,
                                params={"q": 'identities.connection:"Users"'})).json()
    assert [u["user_id"] for u in listed] == [user["user_id"]]


async def test_signup_errors_have_auth0s_shape(broker: Broker, app: dict[str, Any],
                                              db: dict[str, Any]) -> None:
    assert (await signup(broker, app)).status_code == 200
    taken = await signup(broker, app, email="JANE@example.com")
    assert taken.status_code == 400
    assert taken.json() == {"name": "BadRequestError", "code": "user_exists",
                            "description": "The user already exists.", "statusCode": 400}

    weak = await signup(broker, app, email="joe@example.com", password="password1")
    assert weak.status_code == 400
    body = weak.json()
    assert body["name"] == "PasswordStrengthError" and body["code"] == "invalid_password"
    assert body["message"] == "Password is too weak" and body["statusCode"] == 400
    rules = {r["code"]: r["verified"] for r in body["description"]["rules"]}
    assert rules == {"lengthAtLeast": True, "shouldContain": False}
    assert "* At least 8 characters in length" in body["policy"]

    for extra, code in (({"email": "not-an-email"}, "invalid_signup"),
                        ({"connection": "nope"}, "invalid_connection"),
                        ({"client_id": "nope"}, "invalid_client"),
                        ({"password": ""}, "invalid_signup")):
        response = await broker.http.post("/dbconnections/signup", json={
            "client_id": app["client_id"], "email": "kim@example.com", "password": PASSWORD,
            "connection": "Users", **extra})
        assert response.status_code == 400 and response.json()["code"] == code, extra


async def test_signup_can_be_disabled_and_requires_a_username_when_configured(
        broker: Broker, app: dict[str, Any]) -> None:
    await database_connection(broker, [app["client_id"]], name="Closed", disable_signup=True)
    closed = await signup(broker, app, connection="Closed")
    assert closed.status_code == 403 and closed.json()["code"] == "operation_not_allowed"

    await database_connection(broker, [app["client_id"]], name="Named", requires_username=True,
                              validation={"username": {"min": 3, "max": 10}})
    missing = await signup(broker, app, connection="Named")
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_signup"
    too_long = await signup(broker, app, connection="Named", username="a" * 11)
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_username"
    ok = await signup(broker, app, connection="Named", username="Jane_D")
    assert ok.status_code == 200 and ok.json()["username"] == "Jane_D"


async def test_the_management_api_creates_database_users_and_changes_their_password(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    created = await broker.mgmt("POST", "users", json={
        "connection": "Users", "email": "ann@example.com", "password": PASSWORD,
        "email_verified": True, "app_metadata": {"role": "admin"}})
    assert created.status_code == 201, created.text
    user = created.json()
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", user["user_id"])
    assert user["identities"][0]["provider"] == "auth0"
    assert user["email_verified"] is True and user["app_metadata"] == {"role": "admin"}

    again = await broker.mgmt("POST", "users", json={
        "connection": "Users", "email": "ann@example.com", "password": PASSWORD})
    assert again.status_code == 409 and again.json()["errorCode"] == "auth0_idp_error"
    weak = await broker.mgmt("POST", "users", json={
        "connection": "Users", "email": "bo@example.com", "password": "short"})
    assert weak.status_code == 400
    assert weak.json()["message"] == "PasswordStrengthError: Password is too weak"
    assert "short" not in weak.text

    path = f"users/{quote(user['user_id'], safe='')}"
    refused = await broker.mgmt("PATCH", path, json={"password": "alllowercase"})
    assert refused.status_code == 400
    changed = await broker.mgmt("PATCH", path, json={"password": "New-Passw0rd",
                                                     "connection": "Users"})
    assert changed.status_code == 200, changed.text
    from idbroker.vault import password_store
    credential = await password_store.credential_of(broker.runtime.store, user["user_id"])
    assert credential is not None and credential.password_hash.startswith("$argon2id$")
    assert "New-Passw0rd" not in credential.password_hash


async def test_signup_metadata_follows_auth0s_rules(broker: Broker, app: dict[str, Any],
                                                   db: dict[str, Any]) -> None:
    for metadata in ({"a.b": 1}, {"$x": 1}, {"k": "v\x00"}, {"k": "x" * 20_000}):
        response = await signup(broker, app, user_metadata=metadata)
        assert response.status_code == 400 and response.json()["code"] == "invalid_signup"
    assert (await signup(broker, app, user_metadata={"k": ["v"]})).status_code == 200
