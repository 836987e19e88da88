"""Browser tests: Auth0's own browser SDKs (auth0-spa-js, Lock), unmodified, in Debian's
Chromium driven by Playwright, against a live idbroker.

Servers (real uvicorn on loopback, see tests/interop/servers.py):
- ``live`` (per module): idbroker on SQLite (or the PostgreSQL under test) and the fake
  upstream OpenID provider, reachable by the browser over real HTTP;
- ``app_server`` (per package): the test apps' pages (tests/browser/pages/) and the SDK
  bundles from tests/browser/js (``npm ci && npm run build``, done by ``./dev test``).

Browser: one Chromium for the package (``browser``); each test gets a fresh ``context`` (no
cookies, no storage) and ``page``. Requests to anything but loopback are aborted, so a page
never waits on the closed network (gravatar, Auth0's CDN). ``screenshot(page, name)`` saves
a PNG under tests/browser/screenshots/ (or ``$IDBROKER_SCREENSHOT_DIR``); a failed test
leaves one of its page automatically.

The browser tests exercise the HTTP surface, which does not depend on the database; they run
in the SQLite pass of ``./dev test`` and skip when ``IDBROKER_TEST_DATABASE_URL`` is set,
unless ``IDBROKER_BROWSER_TESTS_ON_POSTGRES=1`` (docs/browser-apps.md)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from idbroker.bootstrap import initialise
from idbroker.http.app import create_app
from idbroker.settings import Settings
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.interop.servers import ServerThread, bound_socket, broker_settings

HERE = Path(__file__).parent
PAGES = HERE / "pages"
JS_DIR = HERE / "js"
SPA_JS_DIST = JS_DIR / "node_modules" / "@auth0" / "auth0-spa-js" / "dist"
LOCK_BUILD = JS_DIR / "build"
CHROMIUM = os.environ.get("IDBROKER_CHROMIUM", "/usr/bin/chromium")
# The flags the machine notes prescribe: without the background-networking ones Chromium
# keeps dialling Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("IDBROKER_SCREENSHOT_DIR") or HERE / "screenshots")
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?(/|$)")
#: Playwright's default for each wait; flows cross four servers on two busy cores.
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("IDBROKER_TEST_DATABASE_URL") or \
            os.environ.get("IDBROKER_BROWSER_TESTS_ON_POSTGRES") == "1":
        return
    skip = pytest.mark.skip(reason="browser tests run in the SQLite pass "
                                   "(IDBROKER_BROWSER_TESTS_ON_POSTGRES=1 runs them here too)")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(skip)


def _missing_prerequisites() -> list[str]:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not (SPA_JS_DIST / "auth0-spa-js.production.js").exists():
        missing.append("auth0-spa-js (cd tests/browser/js && npm ci)")
    if not (LOCK_BUILD / "lock.js").exists():
        missing.append("the Lock bundle (cd tests/browser/js && npm ci && npm run build)")
    return missing


# -- browser --------------------------------------------------------------------


# Package scope, not session: the sync Playwright API keeps an event loop running on the main
# thread while it is open, which would break every async test collected after this package.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    missing = _missing_prerequisites()
    if missing:
        pytest.fail("browser tests need " + "; ".join(missing) + ". `./dev test` installs them.",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1000, "height": 760}, locale="en-US")
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.route(lambda url: not LOOPBACK.match(url), lambda route: route.abort())
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_report_{report.when}", report)


@dataclass
class PageLog:
    """What the page printed and which scripts failed: shown when a test fails."""

    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.lines[-60:])


@pytest.fixture
def page(context: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    pg = context.new_page()
    log = PageLog()
    pg.on("console", lambda msg: log.lines.append(f"console.{msg.type}: {msg.text}"))
    pg.on("pageerror", lambda exc: log.lines.append(f"pageerror: {exc} {exc.stack}"))
    pg.on("requestfailed", lambda req: log.lines.append(
        f"requestfailed: {req.method} {req.url} {req.failure}"))
    pg.page_log = log  # type: ignore[attr-defined]
    yield pg
    report = getattr(request.node, "_report_call", None)
    if report is not None and report.passed:  # no stale picture of an earlier failure
        _screenshot_path(request.node.nodeid, "FAILED").unlink(missing_ok=True)
    if report is not None and report.failed:
        try:
            path = _screenshot_path(request.node.nodeid, "FAILED")
            pg.screenshot(path=str(path), full_page=True)
            report.sections.append(("browser", f"screenshot: {path}\nurl: {pg.url}\n{log}"))
        except Exception as exc:  # the page may be gone; the failure itself matters more
            report.sections.append(("browser", f"no screenshot ({exc})\n{log}"))


def _screenshot_path(nodeid: str, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1]).strip("_")
    return SCREENSHOTS / f"{test}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``screenshot(page, "after-login")`` → the saved PNG (full page by default)."""

    def take(pg: Any, name: str, *, full_page: bool = True) -> Path:
        path = _screenshot_path(request.node.nodeid, name)
        pg.screenshot(path=str(path), full_page=full_page)
        return path

    return take


# -- servers --------------------------------------------------------------------


def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on a thread of its own, for anything that calls
    ``asyncio.run`` (the store's set-up, emptying PostgreSQL): the sync Playwright API keeps
    an event loop marked as running on the main thread while the browser is open."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _run_async(coro: Any) -> Any:
    return in_thread(asyncio.run, coro)


@dataclass
class LiveBroker:
    """idbroker and the fake upstream, running; ``mgmt`` is a Management API client."""

    settings: Settings
    upstream: FakeOIDCUpstream
    base_url: str  # http://127.0.0.1:<port>, no trailing slash: spa-js's and Lock's `domain`
    issuer: str  # base_url + "/"
    upstream_url: str
    mgmt: httpx.Client
    bootstrap_client_id: str
    bootstrap_client_secret: str

    def create_client(self, **body: Any) -> dict[str, Any]:
        return self._post("/api/v2/clients", body)

    def create_connection(self, **body: Any) -> dict[str, Any]:
        return self._post("/api/v2/connections", body)

    def oidc_connection(self, name: str, client_ids: list[str], **extra: Any) -> dict[str, Any]:
        """An ``oidc`` (enterprise) connection to the fake upstream."""
        options = {"discovery_url": self.upstream.discovery_url,
                   "client_id": self.upstream.client_id,
                   "client_secret": self.upstream.client_secret,
                   "scope": "openid profile email offline_access"}
        return self.create_connection(name=name, strategy="oidc", options=options,
                                      enabled_clients=client_ids, **extra)

    def social_connection(self, name: str, client_ids: list[str],
                          **extra: Any) -> dict[str, Any]:
        """An ``oauth2`` connection (a social one for Lock) to the same fake upstream."""
        up = self.upstream_url
        options = {"authorizationURL": f"{up}/authorize", "tokenURL": f"{up}/token",
                   "profileURL": f"{up}/userinfo", "client_id": self.upstream.client_id,
                   "client_secret": self.upstream.client_secret,
                   "scope": "openid profile email", "profile_map": {"user_id": "sub",
                                                                    "nickname": "nickname"}}
        return self.create_connection(name=name, strategy="oauth2", options=options,
                                      enabled_clients=client_ids, **extra)

    def spa_client(self, name: str, app_url: str, **extra: Any) -> dict[str, Any]:
        """A single-page app: public client, the app page as callback, logout URL and web
        origin."""
        origin = re.match(r"^https?://[^/]+", app_url)
        assert origin is not None
        body: dict[str, Any] = {"name": name, "app_type": "spa", "callbacks": [app_url],
                                "allowed_logout_urls": [app_url],
                                "web_origins": [origin.group(0)]}
        return self.create_client(**{**body, **extra})

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.mgmt.post(path, json=body)
        assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def token(self, **body: Any) -> httpx.Response:
        """``POST /oauth/token`` as a backend (or an attacker) would send it."""
        return httpx.post(f"{self.base_url}/oauth/token", data=body, timeout=10)


def start_live_broker(tmp: Path, **settings_overrides: Any) -> Iterator[LiveBroker]:
    """idbroker + fake upstream on loopback until the generator is closed (for fixtures that
    need other settings than ``live``'s)."""
    upstream_sock, broker_sock = bound_socket(), bound_socket()
    base_url = f"http://127.0.0.1:{broker_sock.getsockname()[1]}"
    upstream_url = f"http://127.0.0.1:{upstream_sock.getsockname()[1]}"
    settings = in_thread(broker_settings, base_url, tmp / "data", **settings_overrides)
    upstream = FakeOIDCUpstream(issuer=upstream_url, redirect_uris=[f"{base_url}/login/callback"],
                                auto_approve=None)
    init = _run_async(initialise(settings))
    assert init.client_secret is not None, "bootstrap client already existed: DB not empty"
    upstream_server = ServerThread(upstream.app, upstream_sock, "upstream")
    broker_server = ServerThread(create_app(settings), broker_sock, "idbroker")
    upstream_server.start()
    try:
        broker_server.start()
    except BaseException:
        upstream_server.stop()
        raise
    try:
        token = httpx.post(f"{base_url}/oauth/token", json={
            "grant_type": "client_credentials", "client_id": init.client_id,
            "client_secret": init.client_secret,
            "audience": settings.management_audience}, timeout=10)
        token.raise_for_status()
        with httpx.Client(base_url=base_url, timeout=10, headers={
                "Authorization": f"Bearer {token.json()['access_token']}"}) as mgmt:
            yield LiveBroker(settings=settings, upstream=upstream, base_url=base_url,
                             issuer=f"{base_url}/", upstream_url=upstream_url, mgmt=mgmt,
                             bootstrap_client_id=init.client_id,
                             bootstrap_client_secret=init.client_secret)
    finally:
        try:
            broker_server.stop()
        finally:
            upstream_server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    yield from start_live_broker(tmp_path_factory.mktemp("browser"))


@dataclass(frozen=True)
class AppServer:
    base_url: str  # http://127.0.0.1:<port>: a secure context, as spa-js requires

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"


def _static_app() -> Starlette:
    return Starlette(routes=[
        Mount("/vendor/spa-js", StaticFiles(directory=SPA_JS_DIST)),
        Mount("/vendor/lock", StaticFiles(directory=LOCK_BUILD)),
        Mount("/", StaticFiles(directory=PAGES, html=True)),
    ])


@pytest.fixture(scope="package")
def app_server(browser: Any) -> Iterator[AppServer]:
    sock = bound_socket()
    server = ServerThread(_static_app(), sock, "test-apps")
    server.start()
    try:
        yield AppServer(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        server.stop()


def app_config(ctx: Any, **config: Any) -> None:
    """Hand the test app its configuration (broker URL, client id, …) as ``window.IDB_TEST``,
    before any of the page's scripts run, on every page the context loads."""
    ctx.add_init_script(script=f"window.IDB_TEST = {json.dumps(config)};")


def pick_upstream_user(pg: Any, live: LiveBroker, sub: str = "alice") -> None:
    """On the fake upstream's sign-in page, click the demo user ``sub``."""
    pg.wait_for_url(f"{live.upstream_url}/**")
    pg.locator(f"button[name=user][value={sub}]").click()
