"""Hosted pages, rendered with Jinja2 and autoescaping on (every value is untrusted text).

Every page extends ``base.html`` and gets three things from here: ``t`` (the translation
function bound to the page's language), ``locale`` (for ``<html lang>``) and ``branding``.
Use :func:`html_page` from a route: it picks the language and branding for the request and
sets ``Cache-Control: no-store`` and ``Referrer-Policy: same-origin``; the other security
headers and the default CSP come from the middleware (``SecurityHeaders``) and
:func:`html_csp`. Form fields go through the macros in ``forms.html`` so that labels,
autocomplete and error wiring are the same everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from idbroker.http import cors, i18n
from idbroker.http.branding import DEFAULT_BRANDING, Branding, branding_from
from idbroker.settings import Settings
from idbroker.vault.records import Client

_env = Environment(
    loader=PackageLoader("idbroker.http", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)

LOCALE_COOKIE = "idb_locale"
STYLESHEET_PATH = "/static/idbroker.css"
# Referrers never leave idbroker (page URLs carry state, nonce and tickets), but a form
# posting to idbroker keeps its Origin header: under no-referrer browsers send "Origin: null"
# even to the same origin, and the hosted forms check the Origin against CSRF.
_PAGE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache",
                 "Referrer-Policy": "same-origin"}
_STATIC_CSS = resources.files("idbroker.http").joinpath("static/idbroker.css").read_text("utf-8")


@functools.lru_cache(maxsize=16)
def _stylesheet(branding: Branding) -> tuple[str, str]:
    """The served stylesheet (brand variables first) and its version for the page's link."""
    css = branding.css_variables() + _STATIC_CSS
    return css, hashlib.sha256(css.encode()).hexdigest()[:12]


def render_page(name: str, *, locale: str = i18n.ENGLISH,
                branding: Branding = DEFAULT_BRANDING, **context: Any) -> str:
    locale = locale if locale in i18n.CATALOGS else i18n.ENGLISH

    def t(key: str, **params: Any) -> str:
        return i18n.translate(locale, key, **params)

    stylesheet = f"{STYLESHEET_PATH}?v={_stylesheet(branding)[1]}"
    return _env.get_template(name).render(t=t, locale=locale, branding=branding,
                                          stylesheet=stylesheet, **context)


def _settings(conn: HTTPConnection) -> Settings | None:
    runtime = getattr(conn.app.state, "runtime", None) if "app" in conn.scope else None
    return runtime.settings if runtime is not None else None


def branding_for(conn: HTTPConnection) -> Branding:
    settings = _settings(conn)
    return branding_from(settings) if settings is not None else DEFAULT_BRANDING


def locale_for(conn: HTTPConnection) -> str:
    """``ui_locales`` of this request's query, then the one remembered from /authorize (the
    cookie), then ``Accept-Language``, then ``IDBROKER_DEFAULT_LOCALE``."""
    settings = _settings(conn)
    default = settings.default_locale if settings is not None else i18n.ENGLISH
    return i18n.negotiate(conn.query_params.get("ui_locales"), conn.headers.get("accept-language"),
                          default, remembered=conn.cookies.get(LOCALE_COOKIE))


def html_page(request: HTTPConnection, name: str, *, status: int = 200,
              headers: dict[str, str] | None = None, locale: str | None = None,
              answers_to: Client | None = None, **context: Any) -> HTMLResponse:
    """``answers_to``: the app whose redirect URIs this page's form may end at. A form whose
    POST is answered by a redirect to the app is held to ``form-action`` at every hop
    (Chromium enforces it on redirects), so those origins join ``'self'``."""
    html = render_page(name, locale=locale or locale_for(request),
                       branding=branding_for(request), **context)
    extra = dict(_PAGE_HEADERS)
    if answers_to is not None:
        extra["Content-Security-Policy"] = html_csp(
            branding_for(request).logo_origin, _callback_origins(tuple(answers_to.callbacks)))
    return HTMLResponse(html, status_code=status, headers={**extra, **(headers or {})})


_URI_SCHEME = re.compile(r"([a-z][a-z0-9+.-]{0,63}):", re.I)


@functools.lru_cache(maxsize=256)
def _callback_origins(callbacks: tuple[str, ...]) -> tuple[str, ...]:
    """CSP sources for the app's callbacks: the origin of a web callback, the scheme of a
    native app's private-use URI scheme (RFC 8252 §7.1), e.g. ``com.example.app:``."""
    sources = set()
    for callback in callbacks:
        origin = cors.origin_of_url(callback)
        if origin:
            sources.add(origin)
        elif (m := _URI_SCHEME.match(callback)) and m.group(1).lower() not in (
                "http", "https", "javascript", "data", "blob", "filesystem"):
            sources.add(m.group(1).lower() + ":")
    return tuple(sorted(sources))


def remember_locale(response: Response, request: HTTPConnection) -> None:
    """Keep the language an app asked for (``ui_locales``) for the pages that follow in this
    browser (after the upstream returns, a password form posts back, an error): those
    requests carry no ``ui_locales`` any more. Nothing is kept when none was asked for."""
    ui_locales = request.query_params.get("ui_locales") or ""
    chosen = next((found for tag in ui_locales[:1024].split()[:24]
                   if (found := i18n.supported(tag))), None)
    if chosen and request.cookies.get(LOCALE_COOKIE) != chosen:
        settings = _settings(request)
        secure = bool(settings and settings.issuer.startswith("https://"))
        response.set_cookie(LOCALE_COOKIE, chosen, max_age=30 * 86_400, path="/",
                            httponly=True, samesite="lax", secure=secure)


@functools.lru_cache(maxsize=256)
def html_csp(logo_origin: str | None, form_targets: tuple[str, ...] = ()) -> str:
    """The policy of every hosted page that does not set its own: nothing but our stylesheet,
    images from us (and the logo's origin), forms posting to us (and, for a form that ends
    at an app, that app's callback origins), no framing, no script."""
    images = "'self' data:" + (f" {logo_origin}" if logo_origin else "")
    forms = " ".join(("'self'", *form_targets))
    return ("default-src 'none'; style-src 'self'; img-src " + images + "; "
            f"form-action {forms}; frame-ancestors 'none'; base-uri 'none'")


def csp_for(conn: HTTPConnection) -> str:
    return html_csp(branding_for(conn).logo_origin)


async def stylesheet_endpoint(request: Request) -> Response:
    css, _ = _stylesheet(branding_for(request))
    # Versioned by content in the page's link, so a long cache never serves stale colours.
    return Response(css, media_type="text/css", headers={
        "Cache-Control": "public, max-age=86400"})


routes = [Route(STYLESHEET_PATH, stylesheet_endpoint, methods=["GET"])]
