"""Password logins: /co/authenticate then /authorize?login_ticket (embedded Lock, auth0-js),
and the hosted login page's form (/usernamepassword/login)."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote, urlencode

from idbroker.dbconn.hashing import hashing_for
from idbroker.vault import password_store
from tests.functional.dbconnections.conftest import (
    APP_ORIGIN, ORIGIN, PASSWORD, app_redirect_params, co_authenticate, signup,
)
from tests.support import Broker, LoginResult


async def _user(broker: Broker, app: dict[str, Any], email: str = "jane@example.com") -> str:
    response = await signup(broker, app, email=email)
    assert response.status_code == 200, response.text
    return "auth0|" + response.json()["_id"]


async def test_co_authenticate_then_authorize_with_the_ticket_signs_the_person_in(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    user_id = await _user(broker, app)
    response = await co_authenticate(broker.http, app, "JANE@example.com", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"login_ticket", "co_verifier", "co_id"}
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "idb_lt" in response.cookies

    params, verifier, nonce = broker.authorize_params(app, connection=None, realm="Users",
                                                      login_ticket=body["login_ticket"])
    answer = app_redirect_params(await broker.start(params))
    assert answer["state"] == params["state"]
    tokens = await broker.exchange(app, LoginResult("", answer, verifier, nonce))
    assert tokens.status_code == 200, tokens.text
    info = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert info.json()["sub"] == user_id, info.text
    reader = await broker.mgmt_token(["read:users"])
    user = (await broker.user(user_id, reader)).json()
    assert user["logins_count"] == 1 and user["last_login"]

    # The ticket is single-use.
    again = await broker.start(params)
    assert app_redirect_params(again)["error"] == "access_denied"


async def test_a_login_ticket_only_works_for_its_client_and_its_browser(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await _user(broker, app)
    other = await broker.web_app()
    await broker.mgmt("PATCH", f"connections/{db['id']}",
                      json={"enabled_clients": [app["client_id"], other["client_id"]]})
    ticket = (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).json()
    params, _, _ = broker.authorize_params(other, connection=None, realm="Users",
                                           login_ticket=ticket["login_ticket"])
    assert app_redirect_params(await broker.start(params))["error"] == "access_denied"

    ticket = (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).json()
    params, _, _ = broker.authorize_params(app, connection=None, realm="Users",
                                           login_ticket=ticket["login_ticket"])
    broker.http.cookies.set("idb_lt", "another-browsers-binding", domain="idbroker.example.test")
    assert app_redirect_params(await broker.start(params))["error"] == "access_denied"


async def test_wrong_password_and_unknown_user_get_the_same_answer(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await _user(broker, app)
    wrong = await co_authenticate(broker.http, app, "jane@example.com", "Wrong-Passw0rd")
    unknown = await co_authenticate(broker.http, app, "nobody@example.com", "Wrong-Passw0rd")
    for response in (wrong, unknown):
        assert response.status_code == 403
        assert response.json() == {"error": "access_denied",
                                   "error_description": "Wrong email or password."}
        assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert wrong.content == unknown.content
    logs = (await broker.mgmt("GET", "logs", params={"per_page": 20})).json()
    types = [entry["type"] for entry in logs]
    assert "fp" in types and "fu" in types


async def test_co_authenticate_refuses_a_malformed_body_as_access_denied(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    """auth0-js reads only error/error_description from /co/authenticate: a body it cannot
    use is refused in that shape, not in the /dbconnections one."""
    for kwargs in ({"data": {"client_id": app["client_id"], "username": "jane@example.com"}},
                   {"content": b"[1, 2]", "headers": {"Content-Type": "application/json"}},
                   {"content": b"{not json", "headers": {"Content-Type": "application/json"}}):
        refused = await broker.http.post("/co/authenticate", **kwargs)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "access_denied", refused.text
        assert "login_ticket" not in refused.text


async def test_cors_of_co_authenticate_follows_the_clients_web_origins(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await _user(broker, app)
    preflight = await broker.http.options("/co/authenticate", headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, auth0-client"})
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    stranger = await broker.http.options("/co/authenticate", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in stranger.headers
    refused = await co_authenticate(broker.http, app, "jane@example.com", PASSWORD,
                                    origin="https://evil.example")
    assert refused.status_code == 403 and "login_ticket" not in refused.text


async def test_the_hosted_login_page_shows_a_password_form_that_signs_in(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await _user(broker, app)
    params, verifier, _ = broker.authorize_params(app, connection=None)
    page = await broker.start(params)
    assert page.status_code == 200
    assert 'action="/usernamepassword/login"' in page.text and 'name="password"' in page.text
    assert "/lo/signup?" in page.text and "/lo/forgot?" in page.text

    form = {**params, "connection": "Users", "username": "jane@example.com",
            "password": "Wrong-Passw0rd"}
    failed = await broker.http.post("/usernamepassword/login", data=form,
                                    headers={"Origin": ORIGIN})
    assert failed.status_code == 401 and "Wrong email or password." in failed.text
    assert "Wrong-Passw0rd" not in failed.text

    forged = await broker.http.post("/usernamepassword/login",
                                    data={**form, "password": PASSWORD},
                                    headers={"Origin": "https://evil.example"})
    assert forged.status_code == 400

    signed_in = await broker.http.post("/usernamepassword/login",
                                       data={**form, "password": PASSWORD},
                                       headers={"Origin": ORIGIN})
    answer = app_redirect_params(signed_in)
    assert answer["state"] == params["state"] and answer["code"]
    login = LoginResult("", answer, verifier, "")
    assert (await broker.exchange(app, login)).status_code == 200


async def test_lock_hosted_mode_gets_a_form_that_posts_the_ticket(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await _user(broker, app)
    params, _, _ = broker.authorize_params(app, connection=None)
    response = await broker.http.post("/usernamepassword/login", headers={"Origin": ORIGIN},
                                      json={**params, "connection": "Users", "tenant": "x",
                                            "username": "jane@example.com",
                                            "password": PASSWORD, "sso": True})
    assert response.status_code == 200, response.text
    assert response.text.startswith("<form")
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', response.text))
    assert fields["login_ticket"] and fields["state"] == params["state"]
    assert "password" not in fields
    posted = await broker.http.post("/login/ticket", data=fields, headers={"Origin": ORIGIN})
    assert app_redirect_params(posted)["code"]

    wrong = await broker.http.post("/usernamepassword/login", headers={"Origin": ORIGIN},
                                   json={**params, "connection": "Users",
                                         "username": "jane@example.com", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_user_password"


async def test_connection_parameter_opens_the_password_form_and_screen_hint_the_signup(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    params, _, _ = broker.authorize_params(app, connection="Users",
                                           login_hint="jane@example.com")
    page = await broker.start(params)
    assert page.status_code == 200 and 'name="password"' in page.text
    assert 'value="jane@example.com"' in page.text
    params, _, _ = broker.authorize_params(app, connection=None, screen_hint="signup")
    page = await broker.start(params)
    assert page.status_code == 200 and 'action="/lo/signup"' in page.text
    assert 'autocomplete="new-password"' in page.text


async def test_the_hosted_signup_page_creates_the_account_and_signs_in(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    params, _, _ = broker.authorize_params(app, connection=None)
    page = await broker.http.get("/lo/signup?" + urlencode({**params, "connection": "Users"}))
    assert page.status_code == 200
    form = {**params, "connection": "Users", "email": "new@example.com", "password": "weak"}
    refused = await broker.http.post("/lo/signup", data=form, headers={"Origin": ORIGIN})
    assert refused.status_code == 400 and "At least 8 characters" in refused.text
    created = await broker.http.post("/lo/signup", data={**form, "password": PASSWORD},
                                     headers={"Origin": ORIGIN})
    assert app_redirect_params(created)["code"]
    taken = await broker.http.post("/lo/signup", data={**form, "password": PASSWORD},
                                   headers={"Origin": ORIGIN})
    assert taken.status_code == 400 and "already exists" in taken.text


async def test_a_login_rehashes_a_password_hashed_with_old_parameters(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    user_id = await _user(broker, app)
    before = await password_store.credential_of(broker.runtime.store, user_id)
    assert before is not None and "t=1," in before.password_hash
    broker.runtime.settings.password_hash_time_cost = 2
    assert (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).status_code \
        == 200
    after = await password_store.credential_of(broker.runtime.store, user_id)
    assert after is not None and "t=2," in after.password_hash
    assert (await hashing_for(broker.runtime.settings).verify(after.password_hash, PASSWORD)).ok


async def test_password_logins_refuse_a_blocked_user(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    user_id = await _user(broker, app)
    await broker.mgmt("PATCH", f"users/{quote(user_id, safe='')}", json={"blocked": True})
    ticket = (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).json()
    params, _, _ = broker.authorize_params(app, connection=None, realm="Users",
                                           login_ticket=ticket["login_ticket"])
    assert app_redirect_params(await broker.start(params))["error"] == "access_denied"


async def test_challenge_endpoints_say_no_captcha(broker: Broker, app: dict[str, Any]) -> None:
    for path in ("/usernamepassword/challenge", "/dbconnections/signup/challenge",
                 "/dbconnections/change_password/challenge"):
        response = await broker.http.post(path, json={"state": "x"},
                                          headers={"Origin": APP_ORIGIN})
        assert response.json() == {"required": False}
        assert response.headers["access-control-allow-origin"] == APP_ORIGIN




async def test_the_hosted_form_answers_unknown_and_wrong_alike(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await _user(broker, app)
    params, _, _ = broker.authorize_params(app, connection=None)
    answers = []
    for username in ("jane@example.com", "nobody@example.com"):
        response = await broker.http.post("/usernamepassword/login", headers={"Origin": ORIGIN},
                                          json={**params, "connection": "Users",
                                                "username": username, "password": "Wrong-1a"})
        answers.append((response.status_code, response.content))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401


async def test_a_login_ticket_is_redeemed_once_even_by_concurrent_requests(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await _user(broker, app)
    ticket = (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).json()
    params, _, _ = broker.authorize_params(app, connection=None, realm="Users",
                                           login_ticket=ticket["login_ticket"])
    answers = await asyncio.gather(*(broker.start(params) for _ in range(4)))
    outcomes = [app_redirect_params(a) for a in answers]
    assert sum("code" in o for o in outcomes) == 1
    assert sorted(o.get("error", "") for o in outcomes) == ["", *["access_denied"] * 3]


async def test_a_linked_database_account_signs_in_to_the_user_it_was_linked_to(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await broker.oidc_connection([app["client_id"]])
    primary = "oidc|acme-oidc|alice"
    await broker.login(app)
    secondary = await _user(broker, app)
    hex_id = secondary.split("|", 1)[1]
    linked = await broker.mgmt("POST", f"users/{quote(primary, safe='')}/identities",
                               json={"provider": "auth0", "user_id": hex_id})
    assert linked.status_code == 201, linked.text

    async def signed_in_as() -> str:
        ticket = (await co_authenticate(broker.http, app, "jane@example.com",
                                        PASSWORD)).json()["login_ticket"]
        params, verifier, nonce = broker.authorize_params(app, connection=None, realm="Users",
                                                          login_ticket=ticket)
        answer = app_redirect_params(await broker.start(params))
        tokens = (await broker.exchange(app, LoginResult("", answer, verifier, nonce))).json()
        info = await broker.http.get("/userinfo", headers={
            "Authorization": f"Bearer {tokens['access_token']}"})
        return str(info.json()["sub"])

    assert await signed_in_as() == primary
    unlinked = await broker.mgmt(
        "DELETE", f"users/{quote(primary, safe='')}/identities/auth0/{hex_id}")
    assert unlinked.status_code == 200, unlinked.text
    assert await signed_in_as() == secondary
