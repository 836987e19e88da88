"""Single sign-on: one sign-in at the broker answers later /authorize requests of any app."""

from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa

from idbroker.vault import schema
from tests.functional.sessions.conftest import (
    Apps, Clock, id_token_claims, session_value, silent, sso,
)
from tests.support import APP_CALLBACK, Broker, query_of


def upstream_calls(broker: Broker) -> int:
    return sum(broker.upstream.calls.values())


async def test_second_app_signs_in_without_login_page_or_upstream(broker: Broker,
                                                                  apps: Apps) -> None:
    first = await broker.login(apps.first)
    first_claims = await id_token_claims(broker, apps.first, first)
    before = upstream_calls(broker)

    second = await sso(broker, apps.second)
    second_claims = await id_token_claims(broker, apps.second, second)

    assert upstream_calls(broker) == before
    assert second_claims["sub"] == first_claims["sub"] == "oidc|acme-oidc|alice"
    assert second_claims["aud"] == apps.second["client_id"]
    assert second_claims["nonce"] == second.nonce
    # The session's real authentication time and id, not the time of this answer.
    assert second_claims["auth_time"] == first_claims["auth_time"]
    assert second_claims["sid"] == first_claims["sid"]
    async with broker.runtime.store.engine.connect() as conn:
        clients = (await conn.execute(sa.select(schema.sessions.c.clients))).scalar_one()
    assert clients == [apps.first["client_id"], apps.second["client_id"]]


async def test_naming_the_sessions_connection_still_signs_in_silently(broker: Broker,
                                                                     apps: Apps) -> None:
    await broker.login(apps.first)
    before = upstream_calls(broker)
    login = await sso(broker, apps.second, connection="acme-oidc")
    assert (await broker.exchange(apps.second, login)).status_code == 200
    assert upstream_calls(broker) == before


async def test_another_connection_or_prompt_login_goes_upstream(broker: Broker,
                                                               apps: Apps) -> None:
    await broker.oidc_connection([apps.first["client_id"]], name="other-oidc")
    await broker.login(apps.first)
    for extra in ({"connection": "other-oidc"}, {"connection": "acme-oidc", "prompt": "login"}):
        response = await silent(broker, apps.first, **extra)
        assert response.status_code == 302
        assert response.headers["location"].startswith(broker.upstream.issuer), extra
    # prompt=login without a connection shows the login page, not an answer.
    page = await silent(broker, apps.first, prompt="login")
    assert page.status_code == 200 and "acme-oidc" in page.text


async def test_max_age(broker: Broker, apps: Apps, clock: Clock) -> None:
    await broker.login(apps.first)
    clock.advance(120)
    login = await sso(broker, apps.second, max_age="600")
    claims = await id_token_claims(broker, apps.second, login)
    assert claims["auth_time"] <= claims["iat"] - 120

    too_old = await silent(broker, apps.second, max_age="60", connection="acme-oidc")
    assert too_old.headers["location"].startswith(broker.upstream.issuer)
    silent_too_old = query_of((await silent(broker, apps.second, max_age="60",
                                            prompt="none")).headers["location"])
    assert silent_too_old["error"] == "login_required"
    bad = query_of((await silent(broker, apps.second, max_age="-1")).headers["location"])
    assert bad["error"] == "invalid_request"


async def test_blocked_or_deleted_user_session_is_ignored(broker: Broker, apps: Apps) -> None:
    await broker.login(apps.first)
    user_id = quote("oidc|acme-oidc|alice", safe="")
    assert (await broker.mgmt("PATCH", f"users/{user_id}",
                              json={"blocked": True})).status_code == 200
    answer = query_of((await silent(broker, apps.second, prompt="none")).headers["location"])
    assert answer["error"] == "login_required" and "code" not in answer
    assert (await broker.mgmt("PATCH", f"users/{user_id}",
                              json={"blocked": False})).status_code == 200
    # Blocking ended the session for good: unblocking does not revive it.
    answer = query_of((await silent(broker, apps.second, prompt="none")).headers["location"])
    assert answer["error"] == "login_required"
    await broker.login(apps.first)
    await sso(broker, apps.second)
    assert (await broker.mgmt("DELETE", f"users/{user_id}")).status_code == 204
    answer = query_of((await silent(broker, apps.second, prompt="none")).headers["location"])
    assert answer["error"] == "login_required"


async def test_a_new_sign_in_replaces_the_cookie_and_ends_the_old_session(broker: Broker,
                                                                         apps: Apps) -> None:
    await broker.login(apps.first)
    planted = session_value(broker)
    assert planted
    # The same browser signs in again (prompt=login): it gets a new cookie value, and the
    # old value (say, one an attacker planted or copied before) no longer opens anything.
    params, _, _ = broker.authorize_params(apps.first, prompt="login")
    response = await broker.callback(await broker.through_upstream(
        await broker.start(params, keep_session=True)))
    assert response.headers["location"].startswith(APP_CALLBACK)
    assert session_value(broker) not in (None, planted)
    broker.forget_session()
    broker.http.cookies.set("idb_session", planted, domain="idbroker.example.test")
    answer = query_of((await silent(broker, apps.second, prompt="none")).headers["location"])
    assert answer["error"] == "login_required"
    async with broker.runtime.store.engine.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(
            schema.sessions))).scalar_one()
    assert count == 1


async def test_connection_not_enabled_for_the_app_needs_a_login(broker: Broker,
                                                               apps: Apps) -> None:
    lonely = await broker.web_app()
    await broker.oidc_connection([lonely["client_id"]], name="lonely-oidc")
    await broker.login(apps.first)
    answer = query_of((await silent(broker, lonely, prompt="none")).headers["location"])
    assert answer["error"] == "login_required"
