"""POST, PATCH and DELETE /api/v2/users and GET /api/v2/users-by-email, in Auth0's shapes."""

from __future__ import annotations

from typing import Any

from tests.functional.users.conftest import (
    all_stored_text, assert_no_token_keys, create_user, secret_forms, table_rows, uid_path,
)
from tests.support import Broker


async def _signed_in_alice(broker: Broker) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alice signs in to a web app; returns (app, the app's token response)."""
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    tokens = await broker.exchange(app, await broker.login(app))
    assert tokens.status_code == 200, tokens.text
    return app, tokens.json()


async def _userinfo(broker: Broker, access_token: str) -> int:
    response = await broker.http.get("/userinfo",
                                     headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


async def _refresh(broker: Broker, app: dict[str, Any], refresh_token: str) -> Any:
    return await broker.http.post("/oauth/token", json={
        "grant_type": "refresh_token", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "refresh_token": refresh_token})


async def test_create_a_user_for_an_upstream_account_then_its_first_login(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    created = await create_user(broker, user_id="alice", email="Alice@Example.COM",
                                email_verified=True, given_name="Alice",
                                app_metadata={"plan": "gold"}, user_metadata={"theme": "dark"})
    assert created["user_id"] == "oidc|acme-oidc|alice"
    assert created["email"] == "alice@example.com" and created["email_verified"] is True
    assert created["name"] == "alice@example.com" and created["nickname"] == "alice"
    assert created["identities"] == [{"provider": "oidc", "user_id": "acme-oidc|alice",
                                      "connection": "acme-oidc", "isSocial": False}]
    assert created["app_metadata"] == {"plan": "gold"} and created["logins_count"] == 0
    assert created["created_at"].endswith("Z")

    # Duplicates: Auth0's body, and nothing changes.
    again = await broker.mgmt("POST", "users", json={"connection": "acme-oidc",
                                                     "user_id": "alice"})
    assert again.status_code == 409
    assert again.json() == {"statusCode": 409, "error": "Conflict",
                            "message": "The user already exists.", "errorCode": "auth0_idp_error"}

    # The person's first login finds the pre-provisioned identity: same user, tokens attached,
    # metadata kept.
    tokens = await broker.exchange(app, await broker.login(app))
    assert tokens.status_code == 200
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    user = (await broker.user("oidc|acme-oidc|alice", reader)).json()
    assert user["logins_count"] == 1 and user["app_metadata"] == {"plan": "gold"}
    assert user["identities"][0]["access_token"] == broker.upstream.issued[-1]["access_token"]
    assert len(await table_rows(broker, "users")) == 1


async def test_create_validation(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    cases = [
        ({"user_id": "x"}, "connection"),
        ({"connection": "acme-oidc"}, "user_id"),
        ({"connection": "nope", "user_id": "x"}, "connection"),
        ({"connection": "acme-oidc", "user_id": "x", "password": "hunter2"}, "password"),
        ({"connection": "acme-oidc", "user_id": "x", "phone_number": "+1"}, "phone_number"),
        ({"connection": "acme-oidc", "user_id": "x", "email": "not-an-email"}, "email"),
        ({"connection": "acme-oidc", "user_id": "x", "email": "a@x.com,victim@y.com"}, "email"),
        ({"connection": "acme-oidc", "user_id": "x", "picture": "javascript:alert(1)"},
         "picture"),
        ({"connection": "acme-oidc", "user_id": "x", "app_metadata": {"a.b": 1}},
         "app_metadata"),
        ({"connection": "acme-oidc", "user_id": "x", "user_metadata": {"$set": 1}},
         "user_metadata"),
        ({"connection": "acme-oidc", "user_id": "x", "user_metadata": {"k": "v" * 20000}},
         "user_metadata"),
    ]
    for body, where in cases:
        response = await broker.mgmt("POST", "users", json=body)
        assert response.status_code == 400, (body, response.text)
        error = response.json()
        assert error["errorCode"] == "invalid_body" and where in error["message"], error
        assert "hunter2" not in response.text
    assert await table_rows(broker, "users") == []
    weak = await broker.mgmt_token(["read:users"])
    refused = await broker.mgmt("POST", "users", token=weak,
                                json={"connection": "acme-oidc", "user_id": "x"})
    assert refused.status_code == 403


async def test_users_by_email_is_case_insensitive_and_a_bare_array(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await create_user(broker, user_id="u1", email="Jane@Example.com")
    await create_user(broker, user_id="u2", email="jane@example.com")
    await create_user(broker, user_id="u3", email="other@example.com")
    for asked in ("jane@example.com", "JANE@EXAMPLE.COM", "Jane@Example.com"):
        found = await broker.mgmt("GET", "users-by-email", params={"email": asked})
        assert found.status_code == 200
        assert [u["user_id"] for u in found.json()] == ["oidc|acme-oidc|u1", "oidc|acme-oidc|u2"]
    selected = await broker.mgmt("GET", "users-by-email", params={
        "email": "jane@example.com", "fields": "user_id,email", "include_fields": "true"})
    assert selected.json()[0] == {"user_id": "oidc|acme-oidc|u1", "email": "jane@example.com"}
    assert (await broker.mgmt("GET", "users-by-email",
                              params={"email": "nobody@example.com"})).json() == []
    missing = await broker.mgmt("GET", "users-by-email")
    assert missing.status_code == 400 and missing.json()["errorCode"] == "invalid_query_string"


async def test_patch_replaces_root_attributes_and_merges_metadata(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await create_user(broker, user_id="pat", email="pat@example.com", given_name="Pat",
                      app_metadata={"plan": "free", "keep": 1},
                      user_metadata={"y": "bye", "z": {"nested": True}})
    path = f"users/{uid_path('oidc|acme-oidc|pat')}"

    # Auth0's example: {"user_metadata":{"y":null},"app_metadata":{"x":1}}.
    patched = await broker.mgmt("PATCH", path, json={
        "user_metadata": {"y": None, "z": {"other": 1}}, "app_metadata": {"x": 1},
        "name": "Pat Doe", "given_name": None, "email": "PAT.DOE@Example.com"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["user_metadata"] == {"z": {"other": 1}}  # one level deep: z is replaced
    assert body["app_metadata"] == {"plan": "free", "keep": 1, "x": 1}
    assert body["name"] == "Pat Doe" and "given_name" not in body
    assert body["email"] == "pat.doe@example.com"
    assert (await broker.mgmt("GET", path)).json()["app_metadata"] == body["app_metadata"]
    found = await broker.mgmt("GET", "users-by-email", params={"email": "Pat.Doe@example.com"})
    assert [u["user_id"] for u in found.json()] == ["oidc|acme-oidc|pat"]

    cleared = await broker.mgmt("PATCH", path, json={"user_metadata": {}})
    assert cleared.json()["user_metadata"] == {} and cleared.json()["app_metadata"]["x"] == 1
    # The v6 SDK's extra arguments are accepted; properties idbroker does not have are refused.
    assert (await broker.mgmt("PATCH", path, json={"connection": "acme-oidc",
                                                   "email_verified": True})).status_code == 200
    for bad in ({"password": "hunter2"}, {"blocked": None}, {"email_verified": "yes"},
                {"app_metadata": {"a.b": 1}}, {"unknown": 1}):
        response = await broker.mgmt("PATCH", path, json=bad)
        assert response.status_code == 400, (bad, response.text)
        assert "hunter2" not in response.text
    missing = await broker.mgmt("PATCH", f"users/{uid_path('oidc|acme-oidc|nobody')}",
                                json={"name": "x"})
    assert missing.status_code == 404 and missing.json()["errorCode"] == "inexistent_user"
    weak = await broker.mgmt_token(["read:users"])
    assert (await broker.mgmt("PATCH", path, token=weak, json={"name": "x"})).status_code == 403


async def test_blocked_user_cannot_sign_in_and_their_tokens_stop_working(broker: Broker) -> None:
    app, tokens = await _signed_in_alice(broker)
    path = f"users/{uid_path('oidc|acme-oidc|alice')}"
    assert await _userinfo(broker, tokens["access_token"]) == 200

    blocked = await broker.mgmt("PATCH", path, json={"blocked": True})
    assert blocked.status_code == 200 and blocked.json()["blocked"] is True
    assert await _userinfo(broker, tokens["access_token"]) == 401
    refreshed = await _refresh(broker, app, tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    params, _, _ = broker.authorize_params(app)
    callback = await broker.callback(await broker.through_upstream(await broker.start(params)))
    assert callback.status_code == 302
    assert "error=access_denied" in callback.headers["location"]
    assert "code=" not in callback.headers["location"]

    assert (await broker.mgmt("PATCH", path, json={"blocked": False})).status_code == 200
    assert await _userinfo(broker, tokens["access_token"]) == 200
    assert (await broker.exchange(app, await broker.login(app))).status_code == 200


async def test_delete_revokes_upstream_durably_and_ends_sessions(broker: Broker) -> None:
    app, tokens = await _signed_in_alice(broker)
    upstream_tokens = broker.upstream.issued[-1]
    path = f"users/{uid_path('oidc|acme-oidc|alice')}"
    deleter = await broker.mgmt_token(["delete:users"])

    deleted = await broker.mgmt("DELETE", path, token=deleter)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await broker.mgmt("GET", path)).status_code == 404
    assert (await broker.mgmt("DELETE", path, token=deleter)).status_code == 404
    assert await table_rows(broker, "identities") == []

    # The upstream is owed a revocation: one durable outbox row, sealed, for the identity.
    owed = await table_rows(broker, "revocation_outbox")
    assert len(owed) == 1 and owed[0]["reason"] == "user_deleted"
    assert owed[0]["status"] == "pending" and owed[0]["user_id"] == "oidc|acme-oidc|alice"
    events = [e for e in await table_rows(broker, "event_outbox") if e["type"] == "user.deleted"]
    assert len(events) == 1 and events[0]["data"]["user_id"] == "oidc|acme-oidc|alice"
    stored = await all_stored_text(broker)
    for name in ("access_token", "refresh_token"):
        for form in secret_forms(upstream_tokens[name]):
            assert form not in stored, f"upstream {name} in clear after delete"

    # The broker's own tokens for that user stop working.
    assert await _userinfo(broker, tokens["access_token"]) == 401
    assert (await _refresh(broker, app, tokens["refresh_token"])).status_code == 400
    weak = await broker.mgmt_token(["update:users"])
    assert (await broker.mgmt("DELETE", path, token=weak)).status_code == 403


async def test_list_bodies_never_carry_token_keys_after_writes(broker: Broker) -> None:
    await _signed_in_alice(broker)
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    listed = await broker.mgmt("GET", "users", token=reader)
    assert listed.status_code == 200 and len(listed.json()) == 1
    assert_no_token_keys(listed.json())


async def test_nul_and_oversized_inputs_are_refused_not_500(broker: Broker) -> None:
    """PostgreSQL refuses NUL in text and overflowing integers: these must be 4xx up front."""
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await create_user(broker, user_id="nul")
    path = f"users/{uid_path('oidc|acme-oidc|nul')}"
    checks = [
        ("GET", "users", {"params": {"q": "email:a\x00b"}}, 400),
        ("GET", "users", {"params": {"q": "logins_count:[99999999999 TO *]"}}, 400),
        ("GET", "users", {"params": {"q": "created_at:[99999-01-01 TO *]"}}, 400),
        ("GET", "users-by-email", {"params": {"email": "a\x00@b.c"}}, 400),
        # A NUL anywhere in the path is refused before routing (http/middleware.RejectNul).
        ("GET", "users/a%00b", {}, 400),
        ("PATCH", "users/a%00b", {"json": {"name": "x"}}, 400),
        ("DELETE", "users/a%00b", {}, 400),
        ("GET", "users/" + "x" * 400, {}, 404),
        ("PATCH", path, {"json": {"name": "a\x00b"}}, 400),
        ("PATCH", path, {"json": {"user_metadata": {"k": ["a\x00"]}}}, 400),
        ("POST", "users", {"json": {"connection": "acme-oidc", "user_id": "a\x00"}}, 400),
        ("POST", "users", {"json": {"connection": "acme-oidc", "user_id": "s" * 256}}, 400),
        ("POST", f"{path}/identities", {"json": {"provider": "oidc", "user_id": "a\x00"}}, 400),
        ("DELETE", f"{path}/identities/oidc/a%00", {}, 400),
    ]
    for method, where, kwargs, status in checks:
        response = await broker.mgmt(method, where, **kwargs)
        assert response.status_code == status, (method, where, response.text)
        assert response.json()["statusCode"] == status
