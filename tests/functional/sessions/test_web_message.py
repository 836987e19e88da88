"""response_mode=web_message: the page spa-js loads in a hidden iframe (getTokenSilently)
or a popup (loginWithPopup), which posts the answer to the app's window."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.functional.sessions.conftest import WEB_ORIGIN, Apps, silent, unverified
from tests.support import APP_CALLBACK, Broker


def posted(page: httpx.Response) -> tuple[str, dict[str, Any]]:
    """(target origin, message) of a web_message page, checking its security headers."""
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "x-frame-options" not in page.headers
    csp = page.headers["content-security-policy"]
    nonce = re.search(r'<script nonce="([^"]+)">', page.text)
    assert nonce and f"script-src 'nonce-{nonce.group(1)}'" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" not in csp
    target = re.search(r"var target = (.+?);\n", page.text)
    message = re.search(r"var message = \{type: \"authorization_response\", response: (.+?)\};\n",
                        page.text)
    assert target and message, page.text
    assert "postMessage(message, target)" in page.text
    return json.loads(target.group(1)), json.loads(message.group(1))


def frame_ancestors(page: httpx.Response) -> list[str]:
    csp = page.headers["content-security-policy"]
    directive = next(d.strip() for d in csp.split(";") if "frame-ancestors" in d)
    return directive.split()[1:]


async def test_get_token_silently_path_end_to_end(broker: Broker, apps: Apps) -> None:
    """What auth0-spa-js sends from its hidden iframe, and the token exchange after it."""
    await broker.login(apps.first)
    params, verifier, nonce = broker.authorize_params(
        apps.second, connection=None, prompt="none", response_mode="web_message",
        auth0Client="eyJuYW1lIjoiYXV0aDAtc3BhLWpzIiwidmVyc2lvbiI6IjIuMjguMyJ9")
    page = await broker.start(params, keep_session=True)
    target, response = posted(page)
    assert target == "https://app.example.test"
    assert set(response) == {"code", "state", "iss"}
    assert response["state"] == params["state"]
    assert frame_ancestors(page) == [WEB_ORIGIN]
    token = await broker.http.post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": apps.second["client_id"],
        "code": response["code"], "redirect_uri": APP_CALLBACK, "code_verifier": verifier},
        headers={"Origin": WEB_ORIGIN})
    assert token.status_code == 200, token.text
    assert token.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert unverified(token.json()["id_token"])["nonce"] == nonce


async def test_errors_are_posted_too(broker: Broker, apps: Apps) -> None:
    page = await silent(broker, apps.second, prompt="none", response_mode="web_message",
                        state="xyz")
    target, response = posted(page)
    assert target == "https://app.example.test"
    assert response["error"] == "login_required" and response["state"] == "xyz"
    assert "code" not in response


async def test_target_is_the_exact_origin_of_the_redirect_uri(broker: Broker) -> None:
    callback = "https://App.example.test:8443/deep/path/cb?x=1"
    app = await broker.web_app(app_type="spa", callbacks=[callback],
                               web_origins=["https://other.example.test/"])
    await broker.oidc_connection([app["client_id"]])
    params, _, _ = broker.authorize_params(app, connection=None, prompt="none",
                                           response_mode="web_message", redirect_uri=callback)
    page = await broker.start(params)
    target, response = posted(page)
    assert target == "https://app.example.test:8443"
    assert response["error"] == "login_required"
    assert frame_ancestors(page) == ["https://app.example.test:8443", "https://other.example.test"]
    assert '"*"' not in page.text


async def test_untrusted_redirect_uri_gets_no_message(broker: Broker, apps: Apps) -> None:
    params, _, _ = broker.authorize_params(apps.second, connection=None, prompt="none",
                                           response_mode="web_message",
                                           redirect_uri="https://evil.example.test/cb")
    page = await broker.start(params)
    assert page.status_code == 400 and "postMessage" not in page.text
    assert page.headers["x-frame-options"] == "DENY"


async def test_script_breaking_values_stay_inside_the_json(broker: Broker, apps: Apps) -> None:
    state = '</script><script>alert(1)</script>"\u2028'
    page = await silent(broker, apps.second, prompt="none", response_mode="web_message",
                        state=state)
    _, response = posted(page)
    assert response["state"] == state
    assert "<script>alert(1)" not in page.text


async def test_discovery_advertises_web_message_and_logout(broker: Broker) -> None:
    doc = (await broker.http.get("/.well-known/openid-configuration")).json()
    assert "web_message" in doc["response_modes_supported"]
    assert doc["end_session_endpoint"] == "https://idbroker.example.test/oidc/logout"
    assert "sid" in doc["claims_supported"]


async def test_popup_login_through_the_upstream_ends_in_a_posted_code(broker: Broker,
                                                                      apps: Apps) -> None:
    """loginWithPopup: the whole login runs in the popup, whose last page posts to its
    opener, and the login session starts on the way."""
    params, verifier, _ = broker.authorize_params(apps.second, response_mode="web_message")
    page = await broker.callback(await broker.through_upstream(await broker.start(params)))
    target, response = posted(page)
    assert target == "https://app.example.test" and response["state"] == params["state"]
    assert "idb_session=" in page.headers["set-cookie"]
    token = await broker.http.post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": apps.second["client_id"],
        "code": response["code"], "redirect_uri": APP_CALLBACK, "code_verifier": verifier})
    assert token.status_code == 200, token.text
