"""Account linking and unlinking (auth0_compat.md §4.5; security_tests.md §D): the secondary's
identity row moves with its sealed IdP tokens — never duplicated, never lost — and linking is
idempotent under the v6 SDK's retries."""

from __future__ import annotations

from typing import Any

from tests.functional.users.conftest import table_rows, uid_path
from tests.support import ISSUER, Broker

ALICE = "oidc|acme-oidc|alice"
BOB = "oidc|acme-oidc|bob"


async def _alice_and_bob(broker: Broker) -> dict[str, Any]:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    alice_tokens = (await broker.exchange(app, await broker.login(app))).json()
    alice_upstream = dict(broker.upstream.issued[-1])
    broker.upstream.add_user("bob")
    broker.upstream.set_login("bob")
    bob_tokens = (await broker.exchange(app, await broker.login(app))).json()
    bob_upstream = dict(broker.upstream.issued[-1])
    broker.upstream.set_login("alice")
    return {"app": app, "alice": alice_tokens, "bob": bob_tokens,
            "alice_upstream": alice_upstream, "bob_upstream": bob_upstream}


async def _link(broker: Broker, primary: str, body: dict[str, Any],
                token: str | None = None) -> Any:
    return await broker.mgmt("POST", f"users/{uid_path(primary)}/identities", token=token,
                             json=body)


async def test_link_moves_the_identity_with_its_tokens_and_retries_are_idempotent(
        broker: Broker) -> None:
    world = await _alice_and_bob(broker)
    bob_before = (await table_rows(broker, "identities"))
    bob_row = next(r for r in bob_before if r["user_id"] == BOB)

    linked = await _link(broker, ALICE, {"provider": "oidc", "user_id": "acme-oidc|bob"})
    assert linked.status_code == 201, linked.text
    expected = [
        {"provider": "oidc", "user_id": "acme-oidc|alice", "connection": "acme-oidc",
         "isSocial": False},
        {"provider": "oidc", "user_id": "acme-oidc|bob", "connection": "acme-oidc",
         "isSocial": False, "profileData": linked.json()[1]["profileData"]},
    ]
    assert linked.json() == expected
    assert linked.json()[1]["profileData"]["email"] == "bob@example.com"

    # The v6 SDK retries; a retry (with or without the provider prefix) is the same answer.
    for body in ({"provider": "oidc", "user_id": "acme-oidc|bob"},
                 {"provider": "oidc", "user_id": BOB}):
        again = await _link(broker, ALICE, body)
        assert again.status_code == 201 and again.json() == expected

    # The secondary user is gone; its one identity row moved (same id, same ciphertext).
    assert (await broker.mgmt("GET", f"users/{uid_path(BOB)}")).status_code == 404
    rows = await table_rows(broker, "identities")
    assert len(rows) == 2
    moved = next(r for r in rows if r["id"] == bob_row["id"])
    assert moved["user_id"] == ALICE and moved["tokens_sealed"] == bob_row["tokens_sealed"]
    assert [u["user_id"] for u in await table_rows(broker, "users")] == [ALICE]

    # Bob's tokens are readable through the primary, exactly as the upstream issued them.
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    alice = (await broker.user(ALICE, reader)).json()
    assert [i["access_token"] for i in alice["identities"]] == [
        world["alice_upstream"]["access_token"], world["bob_upstream"]["access_token"]]
    assert alice["identities"][1]["refresh_token"] == world["bob_upstream"]["refresh_token"]

    events = [e for e in await table_rows(broker, "event_outbox")
              if e["type"] == "identity.linked"]
    assert len(events) == 1 and events[0]["data"]["secondary_user_id"] == BOB
    assert world["bob_upstream"]["access_token"] not in str(events[0]["data"])

    # Bob's broker session ended with his account; his next sign-in lands on Alice.
    userinfo = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {world['bob']['access_token']}"})
    assert userinfo.status_code == 401
    broker.upstream.set_login("bob")
    login = await broker.exchange(world["app"], await broker.login(world["app"]))
    assert login.status_code == 200
    me = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.json()["sub"] == ALICE and me.json()["name"] == alice["name"]  # not overwritten


async def test_unlink_recreates_the_secondary_with_its_tokens(broker: Broker) -> None:
    world = await _alice_and_bob(broker)
    await broker.mgmt("PATCH", f"users/{uid_path(BOB)}", json={"app_metadata": {"x": 1}})
    before = await table_rows(broker, "identities")
    row_ids = {r["id"] for r in before}
    bob_row_id = next(r["id"] for r in before if r["user_id"] == BOB)
    assert (await _link(broker, ALICE, {"provider": "oidc", "user_id": BOB})).status_code == 201

    path = f"users/{uid_path(ALICE)}/identities/oidc/{uid_path('acme-oidc|bob')}"
    unlinked = await broker.mgmt("DELETE", path)
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json() == [{"provider": "oidc", "user_id": "acme-oidc|alice",
                                "connection": "acme-oidc", "isSocial": False}]

    bob = (await broker.mgmt("GET", f"users/{uid_path(BOB)}")).json()
    assert bob["email"] == "bob@example.com" and bob["app_metadata"] == {}
    assert bob["user_metadata"] == {} and bob["logins_count"] == 0
    assert bob["identities"] == [{"provider": "oidc", "user_id": "acme-oidc|bob",
                                  "connection": "acme-oidc", "isSocial": False}]
    # The same identity row went back (what happens to its IdP tokens on unlink is the
    # token-termination policy's business: docs/token-termination.md).
    rows = await table_rows(broker, "identities")
    assert len(rows) == 2 and {r["id"] for r in rows} == row_ids
    assert next(r for r in rows if r["user_id"] == BOB)["id"] == bob_row_id
    events = [e["type"] for e in await table_rows(broker, "event_outbox")]
    assert events.count("identity.unlinked") == 1
    for form in (world["bob_upstream"]["access_token"], world["bob_upstream"]["refresh_token"]):
        assert form not in str(await table_rows(broker, "event_outbox"))

    again = await broker.mgmt("DELETE", path)
    assert again.status_code == 404 and again.json()["errorCode"] == "inexistent_identity"
    main = await broker.mgmt(
        "DELETE", f"users/{uid_path(ALICE)}/identities/oidc/{uid_path('acme-oidc|alice')}")
    assert main.status_code == 400
    # Re-linking after an unlink works again.
    assert (await _link(broker, ALICE, {"provider": "oidc", "user_id": BOB})).status_code == 201


async def test_link_errors(broker: Broker) -> None:
    await _alice_and_bob(broker)
    self_link = await _link(broker, ALICE, {"provider": "oidc", "user_id": "acme-oidc|alice"})
    assert self_link.status_code == 400
    assert self_link.json()["message"] == "Main identity and the new one are the same."
    unknown_primary = await _link(broker, "oidc|acme-oidc|nobody",
                                  {"provider": "oidc", "user_id": BOB})
    assert unknown_primary.status_code == 404
    assert unknown_primary.json()["errorCode"] == "inexistent_user"
    unknown_secondary = await _link(broker, ALICE, {"provider": "oidc", "user_id": "x|nobody"})
    assert unknown_secondary.status_code == 404
    wrong_connection = await _link(broker, ALICE, {"provider": "oidc", "user_id": BOB,
                                                   "connection_id": "con_nope"})
    assert wrong_connection.status_code == 404
    for body in ({}, {"provider": "oidc"}, {"provider": "oidc", "user_id": BOB,
                                            "link_with": "a.b.c"}, {"user_id": BOB, "x": 1}):
        response = await _link(broker, ALICE, body)
        assert response.status_code == 400, body
        assert response.json()["errorCode"] == "invalid_body"
    reader = await broker.mgmt_token(["read:users"])
    forbidden = await _link(broker, ALICE, {"provider": "oidc", "user_id": BOB}, token=reader)
    assert forbidden.status_code == 403
    unlink = await broker.mgmt(
        "DELETE", f"users/{uid_path(ALICE)}/identities/oidc/{uid_path('acme-oidc|bob')}",
        token=reader)
    assert unlink.status_code == 403
    # Nothing moved.
    assert sorted(u["user_id"] for u in await table_rows(broker, "users")) == [ALICE, BOB]


async def test_link_with_an_id_token_for_the_callers_own_client(broker: Broker) -> None:
    world = await _alice_and_bob(broker)
    app = world["app"]
    grant = await broker.mgmt("POST", "client-grants", json={
        "client_id": app["client_id"], "audience": f"{ISSUER}api/v2/",
        "scope": ["update:users"]})
    assert grant.status_code == 201
    caller = (await broker.token_for(app["client_id"], app["client_secret"]))["access_token"]
    other = await broker.mgmt_token(["update:users"])  # azp: another client
    bob_id_token = world["bob"]["id_token"]

    for token, bad in ((other, bob_id_token), (caller, world["bob"]["access_token"]),
                       (caller, bob_id_token[:-4] + "AAAA"), (caller, "a.b.c")):
        refused = await _link(broker, ALICE, {"link_with": bad}, token=token)
        assert refused.status_code == 400, refused.text
        assert bad not in refused.text
    linked = await _link(broker, ALICE, {"link_with": bob_id_token}, token=caller)
    assert linked.status_code == 201, linked.text
    assert [i["user_id"] for i in linked.json()] == ["acme-oidc|alice", "acme-oidc|bob"]
    retried = await _link(broker, ALICE, {"link_with": bob_id_token}, token=caller)
    assert retried.status_code == 201 and retried.json() == linked.json()


async def test_concurrent_retries_link_once(broker: Broker) -> None:
    """The v6 SDK may resend a link while the first is in flight: both succeed alike."""
    import asyncio

    await _alice_and_bob(broker)
    body = {"provider": "oidc", "user_id": "acme-oidc|bob"}
    answers = await asyncio.gather(*(_link(broker, ALICE, body) for _ in range(4)))
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert all(a.json() == answers[0].json() for a in answers)
    assert len(answers[0].json()) == 2 and len(await table_rows(broker, "identities")) == 2
