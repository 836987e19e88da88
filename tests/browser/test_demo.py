"""`idbroker demo`, clicked through in Chromium: the sample single-page app (the vendored
auth0-spa-js), the demo IdP's sign-in page, the profile, the vault page, a reload signed in
silently, and logout. The servers are the demo's own, wired as cli/demo.py wires them."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from idbroker.cli.demo import CONNECTION, prepare
from idbroker.demo import sample_app
from idbroker.demo.sample_app import SampleAppConfig, create_sample_app
from idbroker.demo.upstream_idp import DEFAULT_DEMO_USERS, DemoClient, DemoIdpConfig, create_demo_idp
from idbroker.http.app import create_app
from tests.browser.conftest import SPA_JS_DIST, _run_async, in_thread
from tests.interop.servers import ServerThread, bound_socket, broker_settings


@dataclass(frozen=True)
class Demo:
    app_url: str
    idp_url: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    socks = [bound_socket() for _ in range(3)]
    broker_url, idp_url, app_url = (f"http://127.0.0.1:{s.getsockname()[1]}" for s in socks)
    settings = in_thread(broker_settings, broker_url, tmp_path_factory.mktemp("demo") / "data",
                         demo=True)
    idp_secret = secrets.token_urlsafe(24)
    setup = _run_async(prepare(settings, idp_url, idp_secret, app_url))
    idp = create_demo_idp(DemoIdpConfig(
        issuer=idp_url, users=list(DEFAULT_DEMO_USERS),
        clients=[DemoClient("idbroker-demo", idp_secret, [f"{broker_url}/login/callback"])]))
    sample = create_sample_app(SampleAppConfig(
        app_url=app_url, idbroker_issuer=settings.issuer, client_id=setup.app_client_id,
        connection=CONNECTION, mgmt_client_id=setup.vault_reader[0],
        mgmt_client_secret=setup.vault_reader[1], mgmt_reader_client_id=setup.profile_reader[0],
        mgmt_reader_client_secret=setup.profile_reader[1], provider_api_url=f"{idp_url}/api/me"))
    servers = [ServerThread(app, sock, name) for app, sock, name in
               zip([create_app(settings), idp, sample], socks, ["idbroker", "demo-idp", "sample"])]
    started: list[ServerThread] = []
    try:
        for server in servers:
            server.start()
            started.append(server)
        yield Demo(app_url=app_url, idp_url=idp_url)
    finally:
        for server in reversed(started):
            server.stop()


def test_the_vendored_sdk_is_the_pinned_npm_release() -> None:
    vendored = (Path(sample_app.STATIC) / "auth0-spa-js.production.js").read_text()
    header, _, body = vendored.partition("\n")
    assert "@auth0/auth0-spa-js 2.27.0" in header and "MIT License" in header
    assert body == (SPA_JS_DIST / "auth0-spa-js.production.js").read_text()


def test_newcomer_clicks_through_the_demo(page: Any, demo: Demo,
                                          screenshot: Callable[..., Path]) -> None:
    page.goto(f"{demo.app_url}/")
    page.locator("#login").wait_for(state="visible")
    screenshot(page, "home")

    page.locator("#login").click()
    page.wait_for_url(f"{demo.idp_url}/**")
    screenshot(page, "demo-idp")
    page.locator("button[name=user][value=alice]").click()

    page.wait_for_url(f"{demo.app_url}/#/profile")
    page.locator("#profile").wait_for(state="visible")
    assert page.locator("#user-id").text_content() == "oidc|demo-idp|alice"
    screenshot(page, "profile")

    page.locator("nav a", has_text="Vault").click()
    page.locator("#api-body").filter(has_text="Hello").wait_for()
    assert "is absent, as it should be" in (page.locator("#reader").text_content() or "")
    screenshot(page, "vault")

    page.reload()  # tokens lived in memory: the SDK signs in again through the iframe
    page.locator("#api-body").filter(has_text="Hello").wait_for()
    assert page.locator("#status").text_content() == "Signed in."

    page.locator("#logout").click()
    page.wait_for_url(f"{demo.app_url}/")
    page.locator("#login").wait_for(state="visible")
    assert page.locator("#status").text_content() == "Signed out."
    screenshot(page, "signed-out")
