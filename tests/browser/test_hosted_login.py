"""Passwords on idbroker's own hosted pages, end to end from an auth0-spa-js app: sign-up,
password login, and a password reset through the mail in the outbox (docs/mailer.md). The
app asks for no connection, so ``loginWithRedirect`` lands on the hosted login page, as it
would on Auth0's Universal Login. (Every hosted page's looks: test_hosted_pages_screenshots.)"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import TIMEOUT_MS, AppServer, LiveBroker, app_config
from tests.browser.test_spa_js import call, wait_ready

PASSWORD = "Correct-Horse-9-battery"


@pytest.fixture(scope="module")
def hosted(live: LiveBroker, app_server: AppServer) -> dict[str, Any]:
    redirect = app_server.url("spa.html")
    client = live.spa_client("Hosted-login app", redirect)
    db = live.create_connection(
        name=f"Passwords-{secrets.token_hex(3)}", strategy="auth0",
        enabled_clients=[client["client_id"]], options={"passwordPolicy": "good"})
    return {"client_id": client["client_id"], "redirect": redirect, "db": db["name"]}


def open_app(page: Any, live: LiveBroker, hosted: dict[str, Any]) -> None:
    app_config(page.context, domain=live.base_url, clientId=hosted["client_id"],
               redirectUri=hosted["redirect"])
    page.goto(hosted["redirect"])
    wait_ready(page)


def to_hosted_login(page: Any, live: LiveBroker) -> None:
    page.locator("#login").click()
    page.wait_for_url(f"{live.base_url}/authorize?**")
    page.locator("input[autocomplete=email]").wait_for()


def submit_password(page: Any, email: str, password: str) -> None:
    page.locator("input[autocomplete=email]").fill(email)
    page.locator("input[autocomplete=current-password]").fill(password)
    page.locator("form button[type=submit]").click()


def back_in_app(page: Any, hosted: dict[str, Any]) -> dict[str, Any]:
    page.wait_for_url(hosted["redirect"])
    wait_ready(page)
    assert page.locator("#status").text_content() == "signed in", \
        page.locator("#error").text_content()
    user: dict[str, Any] = page.evaluate("app.client.getUser()")
    return user


def test_sign_up_then_sign_in_with_the_password(page: Any, live: LiveBroker,
                                                hosted: dict[str, Any],
                                                screenshot: Callable[..., Path]) -> None:
    email = f"gina-{secrets.token_hex(3)}@example.com"
    open_app(page, live, hosted)
    to_hosted_login(page, live)
    page.locator("a[href*='/lo/signup']").click()
    page.locator("input[autocomplete=email]").fill(email)
    page.locator("input[autocomplete=new-password]").fill(PASSWORD)
    screenshot(page, "sign-up")
    page.locator("form button[type=submit]").click()

    user = back_in_app(page, hosted)
    screenshot(page, "signed-up")
    assert user["email"] == email and user["sub"].startswith("auth0|")

    page.locator("#logout").click()  # ends idbroker's session: the next login asks again
    page.wait_for_url(hosted["redirect"])
    wait_ready(page)
    to_hosted_login(page, live)
    submit_password(page, email, PASSWORD)
    assert back_in_app(page, hosted)["sub"] == user["sub"]
    assert call(page, "app.client.getTokenSilently()").get("ok")


def reset_link(outbox: Path, email: str) -> str:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:  # the mail is written after the response
        for path in sorted(outbox.glob("*.eml")):
            message = message_from_bytes(path.read_bytes())
            if email not in str(message["To"]):
                continue
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    links = re.findall(r"https?://\S+/lo/reset\?\S+",
                                       part.get_payload(decode=True).decode())
                    if links:
                        return links[0]
        time.sleep(0.1)
    raise AssertionError(f"no reset mail for {email} in {outbox}")


def test_password_reset_through_the_mail(page: Any, live: LiveBroker, hosted: dict[str, Any],
                                         screenshot: Callable[..., Path]) -> None:
    email = f"hugo-{secrets.token_hex(3)}@example.com"
    signed_up = httpx.post(f"{live.base_url}/dbconnections/signup", json={
        "client_id": hosted["client_id"], "email": email, "password": PASSWORD,
        "connection": hosted["db"]}, timeout=10)
    assert signed_up.status_code == 200, signed_up.text
    new_password = "Another-Horse-7-staple"

    open_app(page, live, hosted)
    to_hosted_login(page, live)
    page.locator("a[href*='/lo/forgot']").click()
    page.locator("input[autocomplete=email]").fill(email)
    page.locator("form button[type=submit]").click()
    page.locator("[role=status]").wait_for()
    screenshot(page, "mail-sent")

    outbox = live.settings.data_dir / "outbox"
    page.goto(reset_link(outbox, email))
    fields = page.locator("input[autocomplete=new-password]")
    fields.nth(0).fill(new_password)
    fields.nth(1).fill(new_password)
    page.locator("form button[type=submit]").click()
    page.locator("main h1").wait_for()
    screenshot(page, "reset-done")

    open_app(page, live, hosted)
    to_hosted_login(page, live)
    submit_password(page, email, PASSWORD)  # the old password is gone
    page.locator("[role=alert]").wait_for()
    screenshot(page, "old-password-refused")
    submit_password(page, email, new_password)
    user = back_in_app(page, hosted)
    assert user["email"] == email and user["sub"].startswith("auth0|")
