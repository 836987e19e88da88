"""Lock 14, unmodified, in Chromium against idbroker over plain http (auth0_compat.md §2.7,
§5.3, §7): the client configuration script, social login with the implicit grant, the
``authenticated`` event and getUserInfo, database login and sign-up."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AppServer, LiveBroker, app_config, pick_upstream_user
from tests.browser.test_hosted_login import reset_link

PASSWORD = "Correct-Horse-9-battery"


@pytest.fixture(scope="module")
def lock(live: LiveBroker, app_server: AppServer) -> dict[str, Any]:
    """Clients and connections for the Lock page:
    - ``implicit``: allowed the implicit grant, with two social connections;
    - ``code_only``: the default SPA grants (no implicit), same connections;
    - ``database``: implicit, one social and one database connection;
    and one social connection enabled for no client of these."""
    url = app_server.url("lock.html")
    implicit = live.spa_client("Lock app", url, grant_types=["implicit", "authorization_code"])
    code_only = live.spa_client("Lock app without implicit", url)
    database = live.spa_client("Lock app with passwords", url,
                               grant_types=["implicit", "authorization_code"])
    suffix = secrets.token_hex(3)
    ids = [implicit["client_id"], code_only["client_id"], database["client_id"]]
    social = live.social_connection(f"demo-social-{suffix}", ids, display_name="Demo Social")
    second = live.social_connection(f"second-social-{suffix}", ids[:2])
    live.social_connection(f"elsewhere-{suffix}", [])
    db = live.create_connection(
        name=f"Passwords-{suffix}", strategy="auth0", enabled_clients=[database["client_id"]],
        options={"passwordPolicy": "good"})
    return {"url": url, "implicit": implicit["client_id"], "code_only": code_only["client_id"],
            "database": database["client_id"], "social": social["name"],
            "second": second["name"], "db": db["name"]}


def open_lock(page: Any, live: LiveBroker, lock: dict[str, Any], client: str,
              **config: Any) -> None:
    app_config(page.context, domain=live.base_url, clientId=lock[client], **config)
    page.goto(lock["url"])
    page.locator(".auth0-lock-widget").wait_for()


def social_buttons(page: Any) -> list[str]:
    buttons = page.locator(".auth0-lock-social-button")
    buttons.first.wait_for()
    return sorted(buttons.all_text_contents())


def wait_authenticated(page: Any) -> dict[str, Any]:
    page.wait_for_function("window.app && (window.app.profile || window.app.userInfoError || "
                           "app.events.some(e => e.name === 'authorization_error'))")
    state: dict[str, Any] = page.evaluate(
        "({events: app.events, profile: app.profile, userInfoError: app.userInfoError})")
    return state


def test_lock_shows_the_clients_connections_and_signs_in_socially(
        page: Any, live: LiveBroker, lock: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    open_lock(page, live, lock, "implicit")
    # Exactly the connections enabled for this client, by display name or name.
    assert social_buttons(page) == sorted([
        "Sign in with Demo Social", f"Sign in with {lock['second']}"])
    screenshot(page, "lock")

    page.locator(".auth0-lock-social-button", has_text="Demo Social").click()
    pick_upstream_user(page, live, "alice")
    state = wait_authenticated(page)
    screenshot(page, "authenticated")

    names = [e["name"] for e in state["events"]]
    assert "authenticated" in names, state
    payload = next(e for e in state["events"] if e["name"] == "authenticated")["detail"]
    user_id = f"oauth2|{lock['social']}|alice"  # Auth0's form for custom social connections
    assert payload["idTokenPayload"]["sub"] == user_id
    assert payload["idTokenPayload"]["iss"] == live.issuer
    assert payload["hasAccessToken"] is True
    # getUserInfo: GET /userinfo with the access token; Auth0's profile carries user_id.
    assert state["userInfoError"] is None, state
    profile = state["profile"]
    assert profile["sub"] == user_id and profile["user_id"] == user_id
    assert profile["email"] == "alice@example.com"


def test_token_responses_need_a_client_allowed_the_implicit_grant(
        page: Any, live: LiveBroker, lock: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    open_lock(page, live, lock, "code_only")
    upstream_visits = live.upstream.calls["authorize"]

    page.locator(".auth0-lock-social-button", has_text="Demo Social").click()
    page.wait_for_url(lambda url: url.startswith(lock["url"]) and "error=" in url)
    screenshot(page, "refused")

    assert "error=unsupported_response_type" in page.url
    assert live.upstream.calls["authorize"] == upstream_visits  # never sent upstream
    assert "access_token" not in page.url


def signup(live: LiveBroker, connection: str, client_id: str, email: str) -> None:
    response = httpx.post(f"{live.base_url}/dbconnections/signup", json={
        "client_id": client_id, "email": email, "password": PASSWORD,
        "connection": connection}, timeout=10)
    assert response.status_code == 200, response.text


def test_database_login_through_lock(page: Any, live: LiveBroker, lock: dict[str, Any],
                                     screenshot: Callable[..., Path]) -> None:
    email = f"dana-{secrets.token_hex(3)}@example.com"
    signup(live, lock["db"], lock["database"], email)
    open_lock(page, live, lock, "database")
    assert social_buttons(page) == ["Sign in with Demo Social"]

    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    screenshot(page, "filled")
    page.locator("button.auth0-lock-submit").click()  # /co/authenticate, /authorize?login_ticket
    state = wait_authenticated(page)
    screenshot(page, "authenticated")

    assert state["userInfoError"] is None, state
    assert state["profile"]["email"] == email
    assert state["profile"]["user_id"].startswith("auth0|")
    assert state["profile"]["sub"] == state["profile"]["user_id"]


def test_a_wrong_password_is_refused_in_lock(page: Any, live: LiveBroker,
                                             lock: dict[str, Any],
                                             screenshot: Callable[..., Path]) -> None:
    email = f"erin-{secrets.token_hex(3)}@example.com"
    signup(live, lock["db"], lock["database"], email)
    open_lock(page, live, lock, "database")

    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD + "x")
    page.locator("button.auth0-lock-submit").click()
    error = page.locator(".auth0-global-message-error")
    error.wait_for()
    screenshot(page, "refused")

    assert "wrong" in (error.text_content() or "").lower()
    assert not page.evaluate("app.events.some(e => e.name === 'authenticated')")


def test_sign_up_through_lock_then_signed_in(page: Any, live: LiveBroker,
                                             lock: dict[str, Any],
                                             screenshot: Callable[..., Path]) -> None:
    email = f"frank-{secrets.token_hex(3)}@example.com"
    open_lock(page, live, lock, "database", initialScreen="signUp")

    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    screenshot(page, "sign-up")
    page.locator("button.auth0-lock-submit").click()  # /dbconnections/signup, then login
    state = wait_authenticated(page)
    screenshot(page, "signed-up")

    names = [e["name"] for e in state["events"]]
    assert "signup success" in names and "authenticated" in names, names
    assert state["profile"]["email"] == email
    assert state["profile"]["user_id"].startswith("auth0|")


def test_forgot_password_through_lock_mails_a_reset_link(
        page: Any, live: LiveBroker, lock: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    email = f"ines-{secrets.token_hex(3)}@example.com"
    signup(live, lock["db"], lock["database"], email)
    open_lock(page, live, lock, "database")

    page.locator(".auth0-lock-alternative-link").click()  # "Don't remember your password?"
    field = page.locator("input[name=email]")
    expect(field).to_have_count(1)  # the login screen has slid away
    field.fill(email)
    page.locator("button.auth0-lock-submit").click()  # POST /dbconnections/change_password
    page.locator(".auth0-global-message-success").wait_for()
    screenshot(page, "sent")

    link = reset_link(live.settings.data_dir / "outbox", email)
    assert link.startswith(f"{live.base_url}/lo/reset?")
