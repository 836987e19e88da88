"""The demo a newcomer clicks through, on the wire: one cookie jar, every redirect followed,
forms posted — across idbroker, the demo IdP and the sample app. The sample app is a
single-page app (auth0-spa-js); here its requests are made the way the SDK makes them
(code flow with PKCE, form-encoded token request from the app's origin). The same demo runs
in Chromium with the real SDK in tests/browser/test_demo.py."""

from __future__ import annotations

import json
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from idbroker.cli.demo import CONNECTION, prepare
from idbroker.demo.sample_app import SampleAppConfig, create_sample_app
from idbroker.demo.upstream_idp import DEFAULT_DEMO_USERS, DemoClient, DemoIdpConfig, create_demo_idp
from idbroker.encoding import s256
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
        app_url=APP, idbroker_issuer=f"{BROKER}/", client_id=setup.app_client_id,
        connection=CONNECTION,
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
            config = json.loads(re.search(
                r'<script id="config" type="application/json">(.*?)</script>', home.text).group(1))
            assert config == {"domain": BROKER, "clientId": setup.app_client_id,
                              "redirectUri": f"{APP}/", "connection": CONNECTION,
                              "scope": "openid profile email",
                              "providerApiUrl": f"{IDP}/api/me"}
            sdk = await browser.get(f"{APP}/static/auth0-spa-js.production.js")
            assert sdk.status_code == 200 and "createAuth0Client" in sdk.text

            # loginWithRedirect: /authorize with PKCE, straight to the demo IdP.
            verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
            login_page = await browser.get(f"{BROKER}/authorize?" + urlencode({
                "client_id": config["clientId"], "redirect_uri": config["redirectUri"],
                "connection": config["connection"], "scope": config["scope"],
                "response_type": "code", "response_mode": "query", "state": state,
                "nonce": secrets.token_urlsafe(16), "code_challenge": s256(verifier),
                "code_challenge_method": "S256"}))
            assert login_page.url.host == "127.0.0.1" and login_page.url.port == 8001
            action, fields = _form(login_page.text, "alice")
            back = await browser.post(httpx.URL(str(login_page.url)).join(action), data=fields)
            assert back.status_code == 200 and str(back.url).startswith(f"{APP}/?")
            query = parse_qs(urlsplit(str(back.url)).query)
            assert query["state"] == [state]

            # handleRedirectCallback: the code at /oauth/token, from the app's origin.
            tokens = await browser.post(f"{BROKER}/oauth/token", headers={"Origin": APP}, data={
                "grant_type": "authorization_code", "client_id": config["clientId"],
                "code": query["code"][0], "redirect_uri": config["redirectUri"],
                "code_verifier": verifier})
            assert tokens.status_code == 200, tokens.text
            access_token = tokens.json()["access_token"]

            vault = await browser.get(f"{APP}/api/vault",
                                      headers={"Authorization": f"Bearer {access_token}"})
            assert vault.status_code == 200, vault.text
            body = vault.json()
            assert body["user_id"] == "oidc|demo-idp|alice"
            assert body["api"]["status"] == 200 and "Hello" in body["api"]["body"]
            idp_token = idp.state.idp.issued[-1]["access_token"]
            assert idp_token not in vault.text  # the page shows it masked
            assert body["identities"][0]["access_token"] == f"{idp_token[:6]}…"
            # The same read without read:user_idp_tokens: the identity, no token.
            assert [(i["connection"], i["has_access_token"]) for i in body["reader_identities"]] \
                == [(CONNECTION, False)]

            anonymous = await browser.get(f"{APP}/api/vault")
            assert anonymous.status_code == 401
            forged = await browser.get(f"{APP}/api/vault", headers={"Authorization": "Bearer x"})
            assert forged.status_code == 401
    finally:
        await rt.close()
