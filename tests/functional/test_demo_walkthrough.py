"""The demo a newcomer clicks through, driven the way a browser would: one cookie jar, every
redirect followed, forms posted — across idbroker, the demo IdP and the sample app."""

from __future__ import annotations

import re
import secrets
from html import unescape

import httpx

from idbroker.cli.demo import CONNECTION, prepare
from idbroker.demo.sample_app import SampleAppConfig, create_sample_app
from idbroker.demo.upstream_idp import DEFAULT_DEMO_USERS, DemoClient, DemoIdpConfig, create_demo_idp
from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from tests.fakes.routing_transport import RoutingTransport

BROKER, IDP, APP = "http://127.0.0.1:8000", "http://127.0.0.1:8001", "http://127.0.0.1:3000"


def _form(html: str, button: str) -> tuple[str, dict[str, str]]:
    form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', html, re.S)
    assert form, html
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
    fields = {k: unescape(v) for k, v in fields.items()}
    name, value = re.search(rf'<button[^>]*name="([^"]+)"[^>]*value="({button})"', html).groups()
    fields[name] = value
    return unescape(form.group(1)), fields


async def test_newcomer_clicks_through_the_seed_scenario(settings: Settings) -> None:
    settings = settings.model_copy(update={"issuer": f"{BROKER}/", "demo": True})
    idp_secret = secrets.token_urlsafe(24)
    setup = await prepare(settings, IDP, idp_secret, APP)
    routes = RoutingTransport()
    rt = await Runtime.start(settings, http=httpx.AsyncClient(transport=routes))
    idp = create_demo_idp(DemoIdpConfig(
        issuer=IDP, users=list(DEFAULT_DEMO_USERS),
        clients=[DemoClient("idbroker-demo", idp_secret, [f"{BROKER}/login/callback"])]))
    sample = create_sample_app(SampleAppConfig(
        app_url=APP, idbroker_issuer=f"{BROKER}/", client_id=setup.app_client[0],
        client_secret=setup.app_client[1], connection=CONNECTION,
        mgmt_client_id=setup.vault_reader[0], mgmt_client_secret=setup.vault_reader[1],
        mgmt_reader_client_id=setup.profile_reader[0],
        mgmt_reader_client_secret=setup.profile_reader[1], provider_api_url=f"{IDP}/api/me",
        transport=routes))
    routes.add(BROKER, create_app(runtime=rt))
    routes.add(IDP, idp)
    routes.add(APP, sample)
    try:
        async with httpx.AsyncClient(transport=routes, follow_redirects=True) as browser:
            home = await browser.get(f"{APP}/")
            assert home.status_code == 200
            login_page = await browser.get(f"{APP}/login")
            assert login_page.url.host == "127.0.0.1" and login_page.url.port == 8001
            action, fields = _form(login_page.text, "alice")
            profile = await browser.post(httpx.URL(str(login_page.url)).join(action), data=fields)
            assert profile.status_code == 200, profile.text
            assert "oidc|demo-idp|alice" in profile.text
            vault = await browser.get(f"{APP}/vault")
            assert vault.status_code == 200, vault.text
            assert "Hello" in vault.text  # the demo IdP's API answered the fetched token
            token = idp.state.idp.issued[-1]["access_token"]
            assert token not in vault.text  # the page shows it masked
    finally:
        await rt.close()
