"""Logout ends the browser's login session, always; the way back is only to allowed URLs."""

from __future__ import annotations

import sqlalchemy as sa

from idbroker.oauth.sessions import SESSION_COOKIE
from idbroker.vault import schema
from tests.functional.sessions.conftest import Apps, session_value, silent
from tests.support import APP_CALLBACK, Broker, query_of


async def session_rows(broker: Broker) -> int:
    async with broker.runtime.store.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(
            schema.sessions))).scalar_one())


def cleared(response) -> bool:  # type: ignore[no-untyped-def]
    cookies = response.headers.get_list("set-cookie")
    return any(c.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in c for c in cookies)


def replant(broker: Broker, value: str) -> None:
    broker.http.cookies.set(SESSION_COOKIE, value, domain="idbroker.example.test")


async def test_v2_logout_ends_the_session_and_the_cookie_is_worthless(broker: Broker,
                                                                     apps: Apps) -> None:
    await broker.login(apps.first)
    value = session_value(broker)
    assert value and await session_rows(broker) == 1
    out = await broker.http.get("/v2/logout", params={
        "client_id": apps.first["client_id"], "returnTo": "https://app.example.test/",
        "federated": ""})
    assert out.status_code == 302 and out.headers["location"] == "https://app.example.test/"
    assert cleared(out) and await session_rows(broker) == 0
    replant(broker, value)
    answer = query_of((await silent(broker, apps.second, prompt="none")).headers["location"])
    assert answer["error"] == "login_required"
    logs = (await broker.mgmt("GET", "logs", params={"q": 'type:"slo"'})).json()
    assert any(entry["type"] == "slo" for entry in logs)


async def test_refused_return_to_still_ends_the_session(broker: Broker, apps: Apps) -> None:
    await broker.login(apps.first)
    out = await broker.http.get("/v2/logout", params={
        "client_id": apps.first["client_id"], "returnTo": "https://evil.test/"})
    assert out.status_code == 400 and "location" not in out.headers
    assert cleared(out) and await session_rows(broker) == 0


async def test_oidc_rp_initiated_logout(broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.first)
    id_token = (await broker.exchange(apps.first, login)).json()["id_token"]
    out = await broker.http.get("/oidc/logout", params={
        "id_token_hint": id_token, "post_logout_redirect_uri": "https://app.example.test/",
        "state": "bye"})
    assert out.status_code == 302
    assert out.headers["location"] == "https://app.example.test/?state=bye"
    assert cleared(out) and await session_rows(broker) == 0

    await broker.login(apps.first)
    posted = await broker.http.post("/oidc/logout", data={
        "client_id": apps.first["client_id"]})
    assert posted.status_code == 200 and cleared(posted) and await session_rows(broker) == 0


async def test_oidc_logout_refusals(broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.first)
    id_token = (await broker.exchange(apps.first, login)).json()["id_token"]
    refusals = [
        {"post_logout_redirect_uri": "https://app.example.test/"},  # no client named
        {"client_id": apps.first["client_id"], "post_logout_redirect_uri": APP_CALLBACK},
        {"id_token_hint": id_token, "client_id": apps.second["client_id"]},
        {"id_token_hint": id_token[:-4] + "AAAA",
         "post_logout_redirect_uri": "https://app.example.test/"},
        {"id_token_hint": "not.a.token"},
    ]
    for params in refusals:
        out = await broker.http.get("/oidc/logout", params=params)
        assert out.status_code == 400 and "location" not in out.headers, params
        assert cleared(out)
