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
               redirectUri=spa["redirect"], connection=spa["connection"], **config)
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

    assert page.evaluate("app.callback") == {"ok": {}}, page.locator("#error").text_content()
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
