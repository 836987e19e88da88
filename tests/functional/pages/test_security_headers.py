"""Every HTML response carries the hosted pages' security headers: a CSP without inline
style or script, no framing (unless the page itself allows its framer), no referrer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from tests.support import ISSUER, Broker

DEFAULT_CSP = {
    "default-src": "'none'", "style-src": "'self'", "img-src": "'self' data:",
    "form-action": "'self'", "frame-ancestors": "'none'", "base-uri": "'none'",
}
# The origin of the test app's callback URL (tests/support.py).
APP_ORIGIN = "https://app.example.test"


def directives(csp: str) -> dict[str, str]:
    out = {}
    for part in csp.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            out[name] = value.strip()
    return out


def assert_hosted_page(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url}"
    assert response.headers["content-type"].startswith("text/html"), where
    policy = directives(response.headers["content-security-policy"])
    # A form answered by a redirect to the app (login, sign-up, consent) may also reach the
    # app's callback origin: Chromium holds every redirect hop to form-action.
    assert policy.pop("form-action") in ("'self'", f"'self' {APP_ORIGIN}"), where
    assert policy == {k: v for k, v in DEFAULT_CSP.items() if k != "form-action"}, where
    assert response.headers["x-frame-options"] == "DENY", where
    # Referrers never leave idbroker; same-origin keeps the Origin of the pages' own forms.
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer"), where
    assert response.headers["x-content-type-options"] == "nosniff", where
    assert "no-store" in response.headers["cache-control"], where
    html = response.text
    # What the policy would block must not be there to begin with.
    assert not re.search(r"<(style|script)\b|\sstyle=|\son\w+=", html, re.I), where
    assert re.search(r'<html lang="(en|de|es)">', html), where
    assert "<main" in html and "<h1>" in html, where


async def _html_pages(broker: Broker) -> list[httpx.Response]:
    """A GET of every route without path parameters, bare and with a bad client, plus the
    pages that need a set-up: whatever answers HTML is a hosted page."""
    responses = []
    for route in broker_app_routes():
        for query in ({}, {"client_id": "unknown", "ui_locales": "de"}, {"state": "x" * 20}):
            responses.append(await broker.http.get(route, params=query))
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    params, _, _ = broker.authorize_params(app, connection=None)
    responses.append(await broker.http.get("/authorize", params=params))
    responses.append(await broker.http.get("/authorize?client_id=%00"))
    responses.append(await broker.http.get("/v2/logout", params={"returnTo": "https://evil.test/"}))
    return [r for r in responses if r.headers.get("content-type", "").startswith("text/html")]


def broker_app_routes() -> list[str]:
    app = create_app()
    return sorted({r.path for r in app.routes if isinstance(r, Route) and "{" not in r.path
                   and "GET" in (r.methods or set()) and not r.path.startswith("/api/v2/")})


async def test_every_hosted_page_has_the_security_headers(broker: Broker) -> None:
    pages = await _html_pages(broker)
    paths = {p.request.url.path for p in pages}
    # The login page, its errors, the callback's errors and the signed-out page at least.
    assert {"/authorize", "/login/callback", "/v2/logout"} <= paths
    assert any("Sign in to Web app" in p.text for p in pages)
    for page in pages:
        assert_hosted_page(page)


async def test_form_pages_send_no_referrer_elsewhere_but_keep_their_origin(
        broker: Broker) -> None:
    app = await broker.web_app()
    params, _, _ = broker.authorize_params(app, connection=None)
    page = await broker.http.get("/authorize", params=params)
    assert page.headers["referrer-policy"] == "same-origin"
    assert '<meta name="referrer"' not in page.text


async def test_the_logo_origin_and_only_it_is_added_to_img_src(broker: Broker) -> None:
    broker.runtime.settings.branding_logo_url = "https://img.acme.example:8443/l.png"
    page = await broker.http.get("/v2/logout")
    csp = directives(page.headers["content-security-policy"])
    assert csp["img-src"] == "'self' data: https://img.acme.example:8443"
    assert {k: v for k, v in csp.items() if k != "img-src"} == \
        {k: v for k, v in DEFAULT_CSP.items() if k != "img-src"}


async def test_form_post_response_keeps_its_own_policy(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    params, _, _ = broker.authorize_params(app, response_mode="form_post", ui_locales="de")
    page = await broker.callback(await broker.through_upstream(await broker.start(params)))
    csp = directives(page.headers["content-security-policy"])
    assert csp["form-action"] == "*" and csp["frame-ancestors"] == "'none'"
    nonce = re.search(r"'nonce-([^']+)'", csp["script-src"]).group(1)
    assert f'<script nonce="{nonce}">' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert '<html lang="de">' in page.text and ">Weiter</button>" in page.text


@pytest.fixture
async def framed_app(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """Pages with their own frame policy, as the web_message page has."""

    def page(csp: str | None) -> Route:
        async def endpoint(request: Request) -> Response:
            return HTMLResponse("<p>x</p>", headers={"Content-Security-Policy": csp} if csp
                                else {})
        return endpoint

    routes = [Route("/framed", page("default-src 'none'; frame-ancestors https://app.test")),
              Route("/unframed", page("default-src 'none'; frame-ancestors 'none'")),
              Route("/plain", page(None))]
    app = create_app(runtime=runtime, extra_routes=routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=ISSUER) as http:
        yield http


async def test_a_page_that_allows_its_framer_gets_no_x_frame_options(
        framed_app: httpx.AsyncClient) -> None:
    framed = await framed_app.get("/framed")
    assert framed.headers["content-security-policy"] == \
        "default-src 'none'; frame-ancestors https://app.test"
    assert "x-frame-options" not in framed.headers
    assert framed.headers["referrer-policy"] == "no-referrer"
    unframed = await framed_app.get("/unframed")
    assert unframed.headers["x-frame-options"] == "DENY"
    plain = await framed_app.get("/plain")
    assert plain.headers["x-frame-options"] == "DENY"
    assert directives(plain.headers["content-security-policy"]) == DEFAULT_CSP


async def test_json_endpoints_get_no_page_policy_but_no_framing(broker: Broker) -> None:
    response = await broker.http.get("/.well-known/openid-configuration")
    assert "content-security-policy" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_api_reference_page_allows_only_its_inline_styles(broker: Broker) -> None:
    response = await broker.http.get("/api/v2/docs")
    csp = directives(response.headers["content-security-policy"])
    assert csp["default-src"] == "'none'" and csp["style-src"] == "'unsafe-inline'"
    assert csp["frame-ancestors"] == "'none'" and "script-src" not in csp
    assert response.headers["x-frame-options"] == "DENY"
