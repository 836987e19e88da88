"""auth0-spa-js 2.27, unmodified, in Chromium against idbroker (auth0_compat.md §5.2, §6):
login by redirect through the fake upstream, silent authentication in a hidden iframe,
refresh-token rotation and reuse detection, and logout."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import AppServer, LiveBroker, app_config, pick_upstream_user


@pytest.fixture(scope="module")
def spa(live: LiveBroker, app_server: AppServer) -> dict[str, Any]:
    """One SPA client and one oidc connection to the fake upstream, enabled for it."""
    redirect = app_server.url("spa.html")
    client = live.spa_client("spa-js test app", redirect)
    connection = live.oidc_connection(f"spa-idp-{secrets.token_hex(3)}", [client["client_id"]])
    return {"client_id": client["client_id"], "redirect": redirect,
            "connection": connection["name"]}


def open_app(page: Any, live: LiveBroker, spa: dict[str, Any], **config: Any) -> None:
    app_config(page.context, domain=live.base_url, clientId=spa["client_id"],
               redirectUri=spa["redirect"], **{"connection": spa["connection"], **config})
    page.goto(spa["redirect"])
    wait_ready(page)


def wait_ready(page: Any) -> None:
    page.wait_for_function("window.app && (window.app.ready || "
                           "document.getElementById('status').textContent === 'broken')")
    assert page.locator("#status").text_content() != "broken", page.locator("#error").text_content()


def log_in(page: Any, live: LiveBroker, spa: dict[str, Any], user: str = "alice") -> None:
    page.locator("#login").click()
    pick_upstream_user(page, live, user)
    page.wait_for_url(spa["redirect"])  # the callback's ?code=…&state=… is replaced away
    wait_ready(page)


def call(page: Any, expression: str) -> dict[str, Any]:
    """Evaluate an SDK call in the page: ``{"ok": result}`` or ``{"error", ...}``."""
    result: dict[str, Any] = page.evaluate(f"app.call(() => {expression})")
    return result


def test_login_with_redirect_gives_the_normalized_profile(
        page: Any, live: LiveBroker, spa: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    open_app(page, live, spa)
    assert page.locator("#status").text_content() == "signed out"
    screenshot(page, "signed-out")

    page.locator("#login").click()
    pick_upstream_user(page, live)  # the browser really is on the upstream's page
    page.wait_for_url(spa["redirect"])
    wait_ready(page)
    screenshot(page, "signed-in")

    callback = page.evaluate("app.callback")  # handleRedirectCallback's result
    assert "ok" in callback, callback
    user = page.evaluate("app.client.getUser()")
    assert user["sub"] == f"oidc|{spa['connection']}|alice"
    assert user["email"] == "alice@example.com"
    assert user["email_verified"] is True
    assert user["name"] == "Alice Martin"
    token = call(page, "app.client.getTokenSilently({detailedResponse: true})")["ok"]
    claims = page.evaluate("app.client.getIdTokenClaims()")
    assert claims["iss"] == live.issuer and claims["aud"] == spa["client_id"]
    assert token["id_token"] == claims["__raw"]
    assert token["access_token"]


def test_without_a_connection_the_login_page_offers_the_apps_connections(
        page: Any, live: LiveBroker, spa: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    open_app(page, live, spa, connection=None)  # as with Auth0's Universal Login
    page.locator("#login").click()
    page.wait_for_url(f"{live.base_url}/authorize?**")
    choices = page.locator("ul.connections a")
    assert choices.count() == 1 and spa["connection"] in (choices.first.text_content() or "")
    screenshot(page, "login-page")

    choices.first.click()
    pick_upstream_user(page, live, "carol")
    page.wait_for_url(spa["redirect"])
    wait_ready(page)
    user = page.evaluate("app.client.getUser()")
    assert user["sub"] == f"oidc|{spa['connection']}|carol"
    assert user["email_verified"] is False  # as the upstream says


def test_a_reload_signs_in_silently_with_the_broker_session(
        page: Any, live: LiveBroker, spa: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    open_app(page, live, spa)  # cacheLocation "memory": a reload forgets every token
    log_in(page, live, spa, "bob")
    silent: list[str] = []
    page.on("request", lambda req: silent.append(req.url)
            if "/authorize?" in req.url and "prompt=none" in req.url else None)

    page.reload()
    wait_ready(page)
    screenshot(page, "after-reload")

    # createAuth0Client's checkSession: a hidden iframe, answered by postMessage.
    assert len(silent) == 1 and "response_mode=web_message" in silent[0], silent
    assert page.locator("#status").text_content() == "signed in"
    assert page.evaluate("app.client.getUser()")["sub"] == f"oidc|{spa['connection']}|bob"
    token = call(page, "app.client.getTokenSilently({cacheMode: 'off'})")
    assert isinstance(token.get("ok"), str), token
    assert len(silent) == 2  # cacheMode off: one more silent authorization, no page change


def token_response(page: Any, action: Callable[[], Any]) -> dict[str, Any]:
    """The JSON body of the /oauth/token call the SDK makes during ``action``."""
    with page.expect_response(lambda r: r.url.endswith("/oauth/token")) as info:
        action()
    body: dict[str, Any] = info.value.json()
    assert info.value.status == 200, body
    return body


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(
        page: Any, live: LiveBroker, spa: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    open_app(page, live, spa, useRefreshTokens=True)
    first = token_response(page, lambda: log_in(page, live, spa))
    assert "offline_access" in first["scope"].split() and first["refresh_token"]

    second = token_response(page, lambda: call(
        page, "app.client.getTokenSilently({cacheMode: 'off'})"))
    assert second["refresh_token"] != first["refresh_token"]  # rotated
    assert second["access_token"] != first["access_token"]
    screenshot(page, "refreshed")

    # Someone replays the first refresh token, already used by the app: the family dies.
    replay = live.token(grant_type="refresh_token", client_id=spa["client_id"],
                        refresh_token=first["refresh_token"])
    assert replay.status_code in (400, 403) and replay.json()["error"] == "invalid_grant"

    result = call(page, "app.client.getTokenSilently({cacheMode: 'off'})")
    assert result.get("error") == "invalid_grant", result
    latest = live.token(grant_type="refresh_token", client_id=spa["client_id"],
                        refresh_token=second["refresh_token"])
    assert latest.json()["error"] == "invalid_grant"


def test_logout_returns_to_the_app_and_ends_the_broker_session(
        page: Any, live: LiveBroker, spa: dict[str, Any],
        screenshot: Callable[..., Path]) -> None:
    open_app(page, live, spa)
    log_in(page, live, spa)
    assert call(page, "app.client.getTokenSilently({cacheMode: 'off'})").get("ok")

    page.locator("#logout").click()
    page.wait_for_url(spa["redirect"])  # returnTo is in the client's allowed logout URLs
    wait_ready(page)
    screenshot(page, "logged-out")

    assert page.locator("#status").text_content() == "signed out"
    # The broker's session is gone: a silent authorization (prompt=none) needs a login now.
    result = call(page, "app.client.getTokenSilently({cacheMode: 'off'})")
    assert result.get("error") == "login_required", result
