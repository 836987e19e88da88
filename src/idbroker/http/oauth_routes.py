"""The Authentication API: /authorize, the upstream callback, /oauth/token, /userinfo,
/oauth/revoke, /v2/logout and discovery."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from idbroker.errors import IdbrokerError, InvalidToken
from idbroker.http import cors, dbconnections_pages, session_cookie, session_routes
from idbroker.http.errors import NO_STORE, handle_idbroker_error
from idbroker.http.pages import html_page, locale_for, remember_locale, render_page
from idbroker.http.requests import client_ip, read_body
from idbroker.oauth import scopes
from idbroker.oauth.authorize import ClientRedirect, ConsentPage, LoginPage, UpstreamRedirect, \
    authorize, binding_cookie_name
from idbroker.oauth.callback import finish_login
from idbroker.oauth.token_endpoint import GRANTS, revoke, token
from idbroker.oauth.token_request import parse_body
from idbroker.oauth.user_claims import claims_for
from idbroker.runtime import Runtime


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def client_redirect(out: ClientRedirect, request: Request | None = None) -> Response:
    if out.response_mode == "web_message":
        return session_routes.web_message_response(out)
    if out.response_mode == "form_post":
        nonce = secrets.token_urlsafe(16)
        html = render_page("form_post.html", locale=locale_for(request) if request else "en",
                           action=out.redirect_uri, fields=list(out.params.items()), nonce=nonce)
        return HTMLResponse(html, headers={**NO_STORE, "Content-Security-Policy":
                                           f"default-src 'none'; script-src 'nonce-{nonce}'; "
                                           "form-action *; frame-ancestors 'none'"})
    separator = "#" if out.response_mode == "fragment" else ("&" if "?" in out.redirect_uri else "?")
    return RedirectResponse(out.redirect_uri + separator + urlencode(out.params),
                            status_code=302, headers=NO_STORE)


def login_page(request: Request, page: LoginPage) -> Response:
    # Connection buttons, and the password form of a database connection.
    return dbconnections_pages.login_response(request, page)


async def authorize_endpoint(request: Request) -> Response:
    rt = _rt(request)
    outcome = await authorize(rt, request.query_params.multi_items(), request.cookies,
                              client_ip(request))
    if isinstance(outcome, LoginPage):
        response = login_page(request, outcome)
        remember_locale(response, request)
        return response
    if isinstance(outcome, ClientRedirect):
        return session_cookie.apply(client_redirect(outcome, request), outcome.session_cookie,
                                    rt.settings)
    if isinstance(outcome, ConsentPage):
        return session_routes.consent_page(request, outcome)
    assert isinstance(outcome, UpstreamRedirect)
    response = RedirectResponse(outcome.url, status_code=302, headers=NO_STORE)
    remember_locale(response, request)
    name, value = outcome.binding_cookie
    response.set_cookie(name, value, max_age=rt.settings.login_transaction_ttl,
                        path="/login/callback", httponly=True, samesite="lax",
                        secure=rt.settings.issuer.startswith("https://"))
    return response


async def callback_endpoint(request: Request) -> Response:
    rt = _rt(request)
    params = dict(request.query_params)
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=50)
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        if needs_resubmit(params, request.cookies):
            return resubmit_page(rt, params, request)
        params.pop(RESUBMIT_FIELD, None)
    out, cookie_name = await finish_login(rt, params, request.cookies, client_ip(request))
    if isinstance(out, ConsentPage):
        response = session_routes.consent_page(request, out)
    else:
        response = session_cookie.apply(client_redirect(out, request), out.session_cookie,
                                        rt.settings)
    response.delete_cookie(cookie_name, path="/login/callback")
    return response


RESUBMIT_FIELD = "_idb_resubmit"


def needs_resubmit(params: dict[str, str], cookies: dict[str, str]) -> bool:
    """A form_post callback (Sign in with Apple) is a cross-site POST, on which browsers do not
    send our SameSite=Lax binding cookie. Such a POST, once and only once, gets a page that
    posts the same fields again from our own origin: same-site, so this browser's cookie
    comes along if (and only if) this browser started the login (docs/providers/apple.md)."""
    state = params.get("state")
    return (bool(state) and RESUBMIT_FIELD not in params
            and binding_cookie_name(state or "") not in cookies)


def resubmit_page(rt: Runtime, params: dict[str, str], request: Request) -> Response:
    # Nothing is read or consumed here: the transaction is taken by the re-posted request.
    nonce = secrets.token_urlsafe(16)
    fields = [*params.items(), (RESUBMIT_FIELD, "1")]
    html = render_page("form_post.html", locale=locale_for(request), action=rt.callback_url,
                       fields=fields, nonce=nonce)
    return HTMLResponse(html, headers={**NO_STORE, "Referrer-Policy": "no-referrer",
                                       "Content-Security-Policy":
                                       f"default-src 'none'; script-src 'nonce-{nonce}'; "
                                       "form-action 'self'; frame-ancestors 'none'"})


async def token_endpoint(request: Request) -> Response:
    rt = _rt(request)
    client_id: str | None = None
    try:
        body = await read_body(request, rt.settings.max_body_bytes)
        params = parse_body(request.headers.get("content-type", ""), body)
        client_id = params.get("client_id")
        result = await token(rt, params, request.headers.get("authorization"), client_ip(request))
        response: Response = JSONResponse(result, headers=NO_STORE)
    except IdbrokerError as exc:
        # Errors too must be readable by the app's page (spa-js reads error and
        # error_description), so they get the same CORS headers.
        response = await handle_idbroker_error(request, exc)
    origin = cors.request_origin(request)
    return cors.add_headers(response, origin, await cors.allowed_for(rt, origin, client_id))


async def revoke_endpoint(request: Request) -> Response:
    rt = _rt(request)
    client_id: str | None = None
    try:
        body = await read_body(request, rt.settings.max_body_bytes)
        params = parse_body(request.headers.get("content-type", ""), body)
        client_id = params.get("client_id")
        await revoke(rt, params, request.headers.get("authorization"))
        response = Response(status_code=200, headers=NO_STORE)
    except IdbrokerError as exc:
        response = await handle_idbroker_error(request, exc)
    origin = cors.request_origin(request)
    return cors.add_headers(response, origin, await cors.allowed_for(rt, origin, client_id))


async def userinfo_endpoint(request: Request) -> Response:
    try:
        response = await _userinfo(request)
    except IdbrokerError as exc:
        response = await handle_idbroker_error(request, exc)
    origin = cors.request_origin(request)
    return cors.add_headers(response, origin, await cors.allowed_for(_rt(request), origin, None))


async def _userinfo(request: Request) -> Response:
    rt = _rt(request)
    header = request.headers.get("authorization") or ""
    if not header.startswith("Bearer "):
        raise InvalidToken("Missing access token")
    verified = rt.issuer.verify_access_token(
        header[7:].strip(), frozenset({f"{rt.settings.issuer}userinfo"}))
    granted = sorted(verified.scopes)
    grant_id = verified.claims.get("gid")
    if "openid" not in verified.scopes or not isinstance(grant_id, str):
        raise InvalidToken("The access token was not issued for userinfo")
    if not await rt.store.grant_is_active(grant_id):
        raise InvalidToken("The access token was revoked")
    user = await rt.store.get_user(verified.subject)
    if user is None or user.blocked:
        raise InvalidToken("The user is blocked or no longer exists")
    # user_id as well as sub: Auth0's profile (Lock's getUserInfo, auth0-js) reads user_id.
    return JSONResponse({"sub": user.user_id, "user_id": user.user_id,
                         **claims_for(user, granted)}, headers=NO_STORE)


def discovery_document(rt: Runtime) -> dict[str, Any]:
    issuer = rt.settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}authorize",
        "token_endpoint": f"{issuer}oauth/token",
        "userinfo_endpoint": f"{issuer}userinfo",
        "jwks_uri": f"{issuer}.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}oauth/revoke",
        "end_session_endpoint": f"{issuer}oidc/logout",
        "scopes_supported": list(scopes.OIDC_SCOPES),
        # The implicit types only for clients that allow the implicit grant (docs/sessions.md).
        "response_types_supported": ["code", "token", "id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post", "web_message"],
        "grant_types_supported": list(GRANTS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                  "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "name",
                             "given_name", "family_name", "nickname", "picture", "email",
                             "email_verified", "updated_at"],
        "authorization_response_iss_parameter_supported": True,
        "request_uri_parameter_supported": False,
    }


async def discovery_endpoint(request: Request) -> Response:
    return JSONResponse(discovery_document(_rt(request)), headers={
        "Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})


async def jwks_endpoint(request: Request) -> Response:
    return JSONResponse(_rt(request).keys.jwks, headers={
        "Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})


routes = [
    Route("/authorize", authorize_endpoint, methods=["GET"]),
    Route("/login/callback", callback_endpoint, methods=["GET", "POST"]),
    Route("/oauth/token", token_endpoint, methods=["POST"]),
    Route("/oauth/revoke", revoke_endpoint, methods=["POST"]),
    Route("/userinfo", userinfo_endpoint, methods=["GET", "POST"]),
    Route("/v2/logout", session_routes.v2_logout_endpoint, methods=["GET"]),
    Route("/.well-known/openid-configuration", discovery_endpoint, methods=["GET"]),
    Route("/.well-known/jwks.json", jwks_endpoint, methods=["GET"]),
    *session_routes.routes,
]
