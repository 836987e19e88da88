"""Password reset by mailed link, email verification, and the two mailers (outbox files and
SMTP to a real server on loopback)."""

from __future__ import annotations

from email import message_from_bytes
from typing import Any
from urllib.parse import urlencode

from tests.functional.dbconnections.conftest import (
    APP_ORIGIN, ORIGIN, PASSWORD, app_redirect_params, co_authenticate, link_in, outbox, signup,
    ticket_of,
)
from tests.functional.dbconnections.smtp_sink import SmtpSink
from tests.support import Broker, LoginResult

NEW_PASSWORD = "Brand-New-Passw0rd"


async def _request_reset(broker: Broker, app: dict[str, Any], email: str) -> Any:
    return await broker.http.post("/dbconnections/change_password", headers={
        "Origin": APP_ORIGIN}, json={"client_id": app["client_id"], "email": email,
                                     "connection": "Users"})


async def test_reset_request_answers_the_same_whether_or_not_the_account_exists(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    assert (await signup(broker, app)).status_code == 200
    verification = outbox(broker)
    known = await _request_reset(broker, app, "Jane@example.com")
    unknown = await _request_reset(broker, app, "nobody@example.com")
    for response in (known, unknown):
        assert response.status_code == 200
        assert response.text == "We've just sent you an email to reset your password."
        assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    again = await _request_reset(broker, app, "jane@example.com")
    assert again.status_code == 200 and again.content == known.content
    sent = outbox(broker)[len(verification):]
    assert [m["To"] for m in sent] == ["jane@example.com"]  # one mail a minute per account
    assert sent[0]["Subject"] == "Reset your password"
    bad = await _request_reset(broker, app, "not an email")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_email"


async def test_the_reset_link_sets_a_new_password_and_ends_old_sessions(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    user_id = "auth0|" + (await signup(broker, app)).json()["_id"]
    # A session from before the reset: its refresh token must stop working.
    ticket = (await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)).json()
    params, verifier, nonce = broker.authorize_params(app, connection=None, realm="Users",
                                                      login_ticket=ticket["login_ticket"])
    answer = app_redirect_params(await broker.start(params))
    tokens = (await broker.exchange(app, LoginResult("", answer, verifier, nonce))).json()

    await _request_reset(broker, app, "jane@example.com")
    link = link_in(outbox(broker)[-1], "lo/reset")
    page = await broker.http.get(link)
    assert page.status_code == 200 and "jane@example.com" in page.text
    # The ticket in this page's URL never goes to another origin in a Referer.
    assert page.headers["referrer-policy"] in ("no-referrer", "same-origin")
    form = {"ticket": ticket_of(link), "password": NEW_PASSWORD,
            "password_confirm": "something else"}
    differ = await broker.http.post("/lo/reset", data=form, headers={"Origin": ORIGIN})
    assert differ.status_code == 400 and "not the same" in differ.text
    weak = await broker.http.post("/lo/reset", data={**form, "password": "weakpass",
                                                     "password_confirm": "weakpass"},
                                  headers={"Origin": ORIGIN})
    assert weak.status_code == 400 and "Should contain" in weak.text
    done = await broker.http.post("/lo/reset", data={**form, "password_confirm": NEW_PASSWORD},
                                  headers={"Origin": ORIGIN})
    assert done.status_code == 200 and "Your password has been changed" in done.text

    old = await co_authenticate(broker.http, app, "jane@example.com", PASSWORD)
    assert old.status_code == 403
    assert (await co_authenticate(broker.http, app, "jane@example.com",
                                  NEW_PASSWORD)).status_code == 200
    refreshed = await broker.http.post("/oauth/token", json={
        "grant_type": "refresh_token", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code in (400, 403) and refreshed.json()["error"] == "invalid_grant"
    reader = await broker.mgmt_token(["read:users"])
    assert (await broker.user(user_id, reader)).json()["email_verified"] is True

    used = await broker.http.get(link)
    assert used.status_code == 400 and "expired or was already used" in used.text
    replay = await broker.http.post("/lo/reset", data={**form, "password_confirm": NEW_PASSWORD},
                                    headers={"Origin": ORIGIN})
    assert replay.status_code == 400


async def test_the_verification_link_of_a_signup_verifies_the_email(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    user_id = "auth0|" + (await signup(broker, app)).json()["_id"]
    message = outbox(broker)[-1]
    assert message["To"] == "jane@example.com"
    link = link_in(message, "lo/verify")
    assert (await broker.http.get(link)).status_code == 200
    reader = await broker.mgmt_token(["read:users"])
    assert (await broker.user(user_id, reader)).json()["email_verified"] is True
    assert (await broker.http.get(link)).status_code == 400


async def test_the_forgot_password_page_sends_the_link(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    await signup(broker, app)
    params, _, _ = broker.authorize_params(app, connection=None)
    query = {**params, "connection": "Users"}
    page = await broker.http.get("/lo/forgot?" + urlencode(query))
    assert page.status_code == 200 and 'name="email"' in page.text
    before = len(outbox(broker))
    sent = await broker.http.post("/lo/forgot", data={**query, "email": "jane@example.com"},
                                  headers={"Origin": ORIGIN})
    assert sent.status_code == 200 and "we have sent it a link" in sent.text
    assert len(outbox(broker)) == before + 1


async def test_with_smtp_settings_mail_goes_to_the_smtp_server(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    sink = SmtpSink()
    port = await sink.start()
    try:
        settings = broker.runtime.settings
        settings.smtp_host, settings.smtp_port, settings.smtp_security = "127.0.0.1", port, "none"
        settings.mail_from = "Accounts <accounts@example.test>"
        await signup(broker, app)
        await _request_reset(broker, app, "jane@example.com")
    finally:
        await sink.stop()
    assert [d.recipients for d in sink.deliveries] == [["jane@example.com"]] * 2
    assert sink.deliveries[0].sender == "accounts@example.test"
    reset = message_from_bytes(sink.deliveries[1].data)
    assert reset["Subject"] == "Reset your password"
    assert "/lo/reset?ticket=" in reset.get_payload(decode=True).decode()
    assert outbox(broker) == []


async def test_an_unreachable_smtp_server_does_not_change_the_answer(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    sink = SmtpSink()
    port = await sink.start()
    await sink.stop()  # nothing listens on this port any more
    settings = broker.runtime.settings
    settings.smtp_host, settings.smtp_port, settings.smtp_security = "127.0.0.1", port, "none"
    assert (await signup(broker, app)).status_code == 200
    response = await _request_reset(broker, app, "jane@example.com")
    assert response.status_code == 200
    assert response.text == "We've just sent you an email to reset your password."


async def test_starttls_is_required_not_opportunistic(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    sink = SmtpSink()  # offers no STARTTLS
    port = await sink.start()
    try:
        settings = broker.runtime.settings
        settings.smtp_host, settings.smtp_port = "127.0.0.1", port
        assert settings.smtp_security == "starttls"
        assert (await signup(broker, app)).status_code == 200
    finally:
        await sink.stop()
    assert sink.deliveries == [] and "MAIL" not in sink.commands
