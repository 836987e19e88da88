"""HTTP side of login sessions: the web_message answer page, the consent page and its POST,
/v2/logout and OIDC RP-initiated logout, and the CORS preflights of the token, revocation
and userinfo endpoints (docs/sessions.md)."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from idbroker.errors import AuthorizeRequestError
from idbroker.http import cors, session_cookie
from idbroker.http.errors import NO_STORE, handle_idbroker_error
from idbroker.http.pages import html_page, render_page
from idbroker.http.requests import client_ip
from idbroker.oauth import logout, sessions
from idbroker.oauth.authorize import ClientRedirect, ConsentPage
from idbroker.oauth.login_completion import finish_consent
from idbroker.runtime import Runtime

CONSENT_PATH = "/authorize/consent"


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def web_message_response(out: ClientRedirect) -> Response:
    """The answer as a page that posts it to the app's window (opener or parent), at the
    exact origin of the registered redirect URI and nowhere else. The app frames it (silent
    authentication), so its frame-ancestors are that origin and the client's web origins."""
    target = cors.origin_of_url(out.redirect_uri)
    assert target is not None  # authorize accepts web_message only for http(s) redirect URIs
    response = {k: int(v) if k == "expires_in" and v.isdigit() else v
                for k, v in out.params.items()}
    ancestors = list(dict.fromkeys(
        [target, *(o for o in (cors.canonical_origin(w) for w in out.frame_origins) if o)]))
    nonce = secrets.token_urlsafe(16)
    html = render_page("web_message.html", target=target, response=response, nonce=nonce)
    return HTMLResponse(html, headers={
        **NO_STORE, "Content-Security-Policy":
            f"default-src 'none'; script-src 'nonce-{nonce}'; base-uri 'none'; "
            f"form-action 'none'; frame-ancestors {' '.join(ancestors)}"})


def consent_page(request: Request, page: ConsentPage) -> Response:
    response = html_page(request, "consent.html", client_name=page.client.name,
                         answers_to=page.client,
                         scopes=page.scopes, consent_id=page.consent_id, action=CONSENT_PATH)
    return session_cookie.apply(response, page.session_cookie, _rt(request).settings)


async def consent_endpoint(request: Request) -> Response:
    # Imported here: oauth_routes imports this module for its helpers.
    from idbroker.http.oauth_routes import client_redirect

    rt = _rt(request)
    form = await request.form(max_files=0, max_fields=10)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    out = await finish_consent(rt, fields, dict(request.cookies), client_ip(request))
    if out is None:
        raise AuthorizeRequestError(
            "This consent request expired, was already answered, or belongs to another "
            "browser. Start the sign-in again.")
    if isinstance(out, ConsentPage):
        return consent_page(request, out)
    return session_cookie.apply(client_redirect(out, request), out.session_cookie, rt.settings)


async def _logged_out(request: Request, target: str | None) -> Response:
    if target is None:
        return html_page(request, "logged_out.html")
    return RedirectResponse(target, status_code=302, headers=NO_STORE)


async def v2_logout_endpoint(request: Request) -> Response:
    rt = _rt(request)
    params = dict(request.query_params)
    await logout.end_session(rt, sessions.presented(dict(request.cookies)),
                             client_id=params.get("client_id"), ip=client_ip(request))
    try:
        response = await _logged_out(request, await logout.v2_logout_target(rt, params))
    except AuthorizeRequestError as exc:
        response = await handle_idbroker_error(request, exc)
    return session_cookie.clear(response, rt.settings)


async def oidc_logout_endpoint(request: Request) -> Response:
    rt = _rt(request)
    params = dict(request.query_params)
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=20)
        params = {k: v for k, v in form.items() if isinstance(v, str)}
    await logout.end_session(rt, sessions.presented(dict(request.cookies)),
                             client_id=params.get("client_id"), ip=client_ip(request))
    try:
        response = await _logged_out(request, await logout.oidc_logout_target(rt, params))
    except AuthorizeRequestError as exc:
        response = await handle_idbroker_error(request, exc)
    return session_cookie.clear(response, rt.settings)


def _preflight(*methods: str):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        return await cors.preflight(request, methods)
    return endpoint


routes = [
    Route(CONSENT_PATH, consent_endpoint, methods=["POST"]),
    Route("/oidc/logout", oidc_logout_endpoint, methods=["GET", "POST"]),
    Route("/oauth/token", _preflight("POST"), methods=["OPTIONS"]),
    Route("/oauth/revoke", _preflight("POST"), methods=["OPTIONS"]),
    Route("/userinfo", _preflight("GET", "POST"), methods=["OPTIONS"]),
]
