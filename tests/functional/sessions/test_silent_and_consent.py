"""prompt=none (silent authentication) and consent for third-party applications."""

from __future__ import annotations

import re

import sqlalchemy as sa

from idbroker.oauth.sessions import SESSION_COOKIE
from idbroker.vault import schema
from tests.functional.sessions.conftest import Apps, id_token_claims, session_value, silent, sso
from tests.support import APP_CALLBACK, Broker, query_of


def answer(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(APP_CALLBACK + "?")
    return query_of(response.headers["location"])


async def test_prompt_none_without_session_is_login_required(broker: Broker, apps: Apps) -> None:
    out = answer(await silent(broker, apps.first, prompt="none", state="s1"))
    assert out["error"] == "login_required" and out["state"] == "s1" and "code" not in out


async def test_prompt_none_with_session_answers_silently(broker: Broker, apps: Apps) -> None:
    await broker.login(apps.first)
    login = await sso(broker, apps.second, prompt="none")
    assert (await id_token_claims(broker, apps.second, login))["sub"] == "oidc|acme-oidc|alice"


async def test_prompt_none_combined_with_another_prompt_is_invalid(broker: Broker,
                                                                  apps: Apps) -> None:
    await broker.login(apps.first)
    out = answer(await silent(broker, apps.second, prompt="none login"))
    assert out["error"] == "invalid_request"


async def test_prompt_none_needing_the_upstream_is_interaction_required(broker: Broker,
                                                                       apps: Apps) -> None:
    await broker.login(apps.first)
    out = answer(await silent(broker, apps.second, prompt="none",
                              connection_scope="contacts.read"))
    assert out["error"] == "interaction_required"


def consent_form(page) -> str:  # type: ignore[no-untyped-def]
    assert page.status_code == 200, page.text
    match = re.search(r'name="consent_id" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def test_third_party_app_needs_consent_once(broker: Broker, apps: Apps) -> None:
    await broker.login(apps.first)
    out = answer(await silent(broker, apps.third_party, prompt="none"))
    assert out["error"] == "consent_required"

    page = await silent(broker, apps.third_party)
    consent_id = consent_form(page)
    # Each OpenID Connect scope reads as what it allows, not as a code.
    for allows in ("Confirm who you are when you sign in", "See your name, nickname and picture",
                   "See your email address", "Keep access to your account while you are not using"):
        assert allows in page.text
    assert "<code>" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # Another browser (no session cookie) cannot answer it, nor burn it.
    own = session_value(broker)
    broker.forget_session()
    stranger = await broker.http.post("/authorize/consent", data={
        "consent_id": consent_id, "decision": "accept"})
    assert stranger.status_code == 400 and "location" not in stranger.headers
    broker.http.cookies.set(SESSION_COOKIE, own, domain="idbroker.example.test")
    accepted = answer(await broker.http.post("/authorize/consent", data={
        "consent_id": consent_id, "decision": "accept"}))
    assert "code" in accepted
    replay = await broker.http.post("/authorize/consent", data={
        "consent_id": consent_id, "decision": "accept"})
    assert replay.status_code == 400

    # Remembered: silent authentication now works for the third-party app.
    login = await sso(broker, apps.third_party, prompt="none")
    assert (await broker.exchange(apps.third_party, login)).status_code == 200
    # A scope not yet allowed asks again.
    out = answer(await silent(broker, apps.third_party, prompt="none",
                              scope="openid profile email offline_access phone"))
    assert "code" in out  # unknown scopes are dropped, so nothing new is asked
    params, _, _ = broker.authorize_params(apps.third_party, connection=None, prompt="consent")
    assert "consent_id" in (await broker.start(params, keep_session=True)).text


async def test_denied_consent_is_access_denied(broker: Broker, apps: Apps) -> None:
    await broker.login(apps.first)
    consent_id = consent_form(await silent(broker, apps.third_party, state="st"))
    out = answer(await broker.http.post("/authorize/consent", data={
        "consent_id": consent_id, "decision": "deny"}))
    assert out["error"] == "access_denied" and out["state"] == "st" and "code" not in out
    assert answer(await silent(broker, apps.third_party, prompt="none"))["error"] == \
        "consent_required"


async def test_first_interactive_login_of_third_party_app_asks_consent(broker: Broker,
                                                                      apps: Apps) -> None:
    params, verifier, _ = broker.authorize_params(apps.third_party)
    page = await broker.callback(await broker.through_upstream(await broker.start(params)))
    consent_id = consent_form(page)
    assert "idb_session=" in page.headers["set-cookie"]
    out = answer(await broker.http.post("/authorize/consent", data={
        "consent_id": consent_id, "decision": "accept"}))
    assert out["state"] == params["state"]
    token = await broker.http.post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": apps.third_party["client_id"],
        "client_secret": apps.third_party["client_secret"], "code": out["code"],
        "redirect_uri": APP_CALLBACK, "code_verifier": verifier})
    assert token.status_code == 200, token.text


async def test_id_token_hint_of_another_person_is_login_required(broker: Broker,
                                                                 apps: Apps) -> None:
    alice = (await broker.exchange(apps.first, await broker.login(apps.first))).json()
    broker.upstream.set_login("bob")
    bob = (await broker.exchange(apps.first, await broker.login(apps.first))).json()
    wrong = answer(await silent(broker, apps.second, prompt="none",
                                id_token_hint=alice["id_token"]))
    assert wrong["error"] == "login_required"
    login = await sso(broker, apps.second, prompt="none", id_token_hint=bob["id_token"])
    assert (await id_token_claims(broker, apps.second, login))["sub"] == "oidc|acme-oidc|bob"
    forged = answer(await silent(broker, apps.second, prompt="none",
                                 id_token_hint=bob["access_token"]))
    assert forged["error"] == "invalid_request"


async def test_deleting_an_app_deletes_the_consents_given_to_it(broker: Broker,
                                                                apps: Apps) -> None:
    await broker.login(apps.first)
    consent_id = consent_form(await silent(broker, apps.third_party))
    answer(await broker.http.post("/authorize/consent", data={
        "consent_id": consent_id, "decision": "accept"}))

    async def consents() -> int:
        async with broker.runtime.store.engine.connect() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(
                schema.consents).where(
                schema.consents.c.client_id == apps.third_party["client_id"]))).scalar_one()

    assert await consents() == 1
    deleted = await broker.mgmt("DELETE", f"clients/{apps.third_party['client_id']}")
    assert deleted.status_code == 204, deleted.text
    assert await consents() == 0
