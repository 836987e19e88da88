"""Every hosted page in Chromium: desktop (1280×800) and phone (375×667), English and
German (from the browser's own Accept-Language), with a brand applied. Each page is
screenshotted (tests/browser/screenshots/) and checked for what a person relies on: the page's
language, no horizontal scrolling on a phone, the stylesheet applied (no CSP refusal), a
visible focus ring, and an error announced next to the form."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LOOPBACK, TIMEOUT_MS, LiveBroker, pick_upstream_user, \
    start_live_broker

PRIMARY = "#0b6e4f"
BACKGROUND = "#e6eee9"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 667}}
LANGUAGES = {"en": "en-US", "de": "de-DE"}
TEXT = {
    "en": {"heading": "Sign in to Travel Planner", "error": "Error:", "sent": "If an account",
           "consent": "Partner Insights wants to access your account",
           "signed_out": "You are signed out", "bad_link": "This sign-in link is not valid"},
    "de": {"heading": "Bei Travel Planner anmelden", "error": "Fehler:", "sent": "Falls zu",
           "consent": "Partner Insights möchte auf Ihr Konto zugreifen",
           "signed_out": "Sie sind abgemeldet", "bad_link": "Dieser Anmeldelink ist ungültig"},
}


@pytest.fixture(scope="module")
def branded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveBroker, Path]]:
    tmp = tmp_path_factory.mktemp("hosted-pages")
    outbox = tmp / "outbox"
    yield from ((live, outbox) for live in start_live_broker(
        tmp, branding_name="Acme Travel", branding_primary_color=PRIMARY,
        branding_page_background=BACKGROUND, mail_outbox_dir=outbox))


@pytest.fixture(scope="module")
def apps(branded: tuple[LiveBroker, Path]) -> dict[str, str]:
    live, _ = branded
    callback = f"{live.base_url}/no-app-here"
    planner = live.create_client(name="Travel Planner", app_type="regular_web",
                                 callbacks=[callback])
    partner = live.create_client(name="Partner Insights", app_type="regular_web",
                                 callbacks=[callback], is_first_party=False)
    ids = [planner["client_id"], partner["client_id"]]
    live.oidc_connection("acme-sso", ids, display_name="Acme SSO")
    live.social_connection("github", [planner["client_id"]], display_name="GitHub")
    live.create_connection(name="Username-Password-Authentication", strategy="auth0",
                           enabled_clients=[planner["client_id"]],
                           options={"passwordPolicy": "good"})
    common = {"response_type": "code", "redirect_uri": callback, "scope": "openid profile email",
              "state": "s" * 16}
    return {"login": f"{live.base_url}/authorize?" + urlencode(
                {**common, "client_id": planner["client_id"]}),
            "consent": f"{live.base_url}/authorize?" + urlencode(
                {**common, "client_id": partner["client_id"], "connection": "acme-sso"})}


def _rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))


class Pages:
    """One browser context (viewport + language) walking through the pages."""

    def __init__(self, page: Any, live: LiveBroker, lang: str, viewport: str,
                 shoot: Callable[..., Path]) -> None:
        self.page, self.live, self.lang, self.viewport, self.shoot = \
            page, live, lang, viewport, shoot
        self.csp_refusals: list[str] = []
        page.on("console", lambda msg: self.csp_refusals.append(msg.text)
                if "Content Security Policy" in msg.text else None)

    def check(self, name: str) -> None:
        pg = self.page
        pg.wait_for_load_state("load")  # after a click, the stylesheet may still be on its way
        assert pg.locator("html").get_attribute("lang") == self.lang, name
        assert pg.locator("main h1").is_visible(), name
        overflow = pg.evaluate("document.documentElement.scrollWidth - "
                               "document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: {overflow}px of horizontal scrolling"
        # The served stylesheet applied: the brand's background is on the page.
        assert pg.evaluate("getComputedStyle(document.body).backgroundColor") == \
            _rgb(BACKGROUND), name
        assert self.csp_refusals == [], f"{name}: {self.csp_refusals}"
        self.shoot(pg, name)

    def focus_ring_on_tab(self) -> None:
        self.page.keyboard.press("Tab")
        ring = self.page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
            return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }""")
        assert ring[1] == "solid" and ring[2] == "3px", ring


@pytest.fixture(params=[(v, lang) for v in VIEWPORTS for lang in LANGUAGES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def pages(request: pytest.FixtureRequest, browser: Any, branded: tuple[LiveBroker, Path],
          screenshot: Callable[..., Path]) -> Iterator[Pages]:
    viewport, lang = request.param
    ctx = browser.new_context(viewport=VIEWPORTS[viewport], locale=LANGUAGES[lang],
                              is_mobile=viewport == "phone", has_touch=viewport == "phone")
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.route(lambda url: not LOOPBACK.match(url), lambda route: route.abort())
    try:
        yield Pages(ctx.new_page(), branded[0], lang, viewport, screenshot)
    finally:
        ctx.close()


def focused_on_first_field(pg: Any) -> None:
    """autofocus applies once the page has rendered, so wait for it rather than look once."""
    # (expect polls from Playwright's own world: the page's CSP forbids evaluating strings.)
    expect(pg.locator("main input:not([type=hidden])").first).to_be_focused()


def _reset_link(outbox: Path, email: str) -> str:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:  # the mail is sent after the response
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = message_from_bytes(path.read_bytes())
            if email in str(message["To"]):
                body = next(part.get_payload(decode=True).decode()
                            for part in message.walk() if part.get_content_type() == "text/plain")
                links = re.findall(r"https?://\S+/lo/reset\?\S+", body)
                if links:
                    return links[0]
        time.sleep(0.1)
    raise AssertionError(f"no reset mail for {email} in {outbox}")


def test_hosted_pages(pages: Pages, apps: dict[str, str],
                      branded: tuple[LiveBroker, Path]) -> None:
    pg, text = pages.page, TEXT[pages.lang]

    pg.goto(apps["login"])
    assert pg.locator("h1").inner_text() == text["heading"]
    # Nothing takes focus by itself except the first field; Tab moves on with a visible ring.
    focused_on_first_field(pg)
    pages.check("login")
    pages.focus_ring_on_tab()

    pg.locator("input[autocomplete=email]").fill("nobody@example.com")
    pg.locator("input[autocomplete=current-password]").fill("not-the-password-1")
    pg.locator("form button[type=submit]").click()
    alert = pg.locator("[role=alert]")
    assert alert.inner_text().startswith(text["error"])
    assert pg.locator("form").get_attribute("aria-describedby") == alert.get_attribute("id")
    pages.check("login-error")

    email = f"traveller-{secrets.token_hex(4)}@example.com"
    password = "Correct-Horse-9-battery"
    pg.goto(apps["login"])
    pg.locator("a[href*='/lo/signup']").click()
    focused_on_first_field(pg)
    pages.check("signup")
    pg.locator("input[autocomplete=email]").fill(email)
    pg.locator("input[autocomplete=new-password]").fill(password)
    pg.locator("form button[type=submit]").click()
    pg.wait_for_url(re.compile(r".*/no-app-here\?code="))  # signed up, sent back to the app
    pg.context.clear_cookies()  # forget the login session, or the login page is skipped

    pg.goto(apps["login"])
    pg.locator("a[href*='/lo/forgot']").click()
    pages.check("forgot")
    pg.locator("input[autocomplete=email]").fill(email)
    pg.locator("form button[type=submit]").click()
    assert pg.locator("[role=status]").inner_text().startswith(text["sent"])
    pages.check("forgot-sent")

    pg.goto(_reset_link(branded[1], email))
    assert [pg.locator("input[type=password]").nth(i).get_attribute("autocomplete")
            for i in range(2)] == ["new-password", "new-password"]
    pages.check("reset")

    pg.goto(apps["consent"])
    pick_upstream_user(pg, pages.live)
    pg.locator("h1", has_text=text["consent"]).wait_for()
    pages.check("consent")

    pg.goto(f"{pages.live.base_url}/authorize?client_id=unknown")
    assert text["bad_link"] in pg.locator("main").inner_text()
    pages.check("error")

    pg.goto(f"{pages.live.base_url}/v2/logout")
    assert pg.locator("h1").inner_text() == text["signed_out"]
    pages.check("logged-out")
