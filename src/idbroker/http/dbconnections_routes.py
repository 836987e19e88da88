"""Database connections on the wire (auth0_compat.md §2.8): sign-up, password-reset request,
cross-origin login (``/co/authenticate``), the hosted login form's POST
(``/usernamepassword/login``) and the hosted sign-up, forgot-password, reset and verification
pages. docs/database-connections.md describes each.

Browser-facing POSTs of our own pages must come from our own origin (the ``Origin`` header,
which browsers send on every POST): that is what stops a foreign page from signing a visitor
in to an attacker's account (login CSRF). The cross-origin endpoints answer CORS only for the
application's "Allowed Web Origins".
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, \
    RedirectResponse, Response
from starlette.routing import Route

from idbroker.dbconn import accounts, login, reset
from idbroker.errors import (
    AccessDenied, AuthorizeRequestError, DatabaseConnectionError, IdbrokerError, TooManyAttempts,
)
from idbroker.http import cors, dbconnections_pages as pages, session_cookie, session_routes
from idbroker.http.errors import NO_STORE, handle_idbroker_error
from idbroker.http.pages import render_page
from idbroker.http.requests import read_body
from idbroker.oauth.authorize import ClientRedirect, ConsentPage, LoginPage, UpstreamRedirect, \
    authorize
from idbroker.ratelimit.addresses import client_address
from idbroker.runtime import Runtime

TICKET_PATH = "/login/ticket"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# Fields of a login or sign-up POST that are not /authorize parameters.
_NOT_AUTHORIZE = frozenset({"username", "password", "password_confirm", "email", "tenant",
                            "_csrf", "_intstate", "connection", "realm", "login_ticket",
                            "popup_options", "sso", "screen_hint"})
_ERROR_KEYS = {
    "user_exists": "db.user_exists", "invalid_password": "db.password_weak",
    "password_no_user_info_error": "db.password_personal",
    "operation_not_allowed": "db.signup_disabled", "invalid_email": "db.invalid_email",
}


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def _ip(request: Request) -> str | None:
    rt = _rt(request)
    return client_address(request.client.host if request.client else None,
                          request.headers.getlist("x-forwarded-for"),
                          rt.settings.trusted_proxy_networks)


async def _body(request: Request) -> tuple[dict[str, Any], bool]:
    """A JSON object or a form; returns it and whether it was JSON."""
    raw = await read_body(request, _rt(request).settings.max_body_bytes)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if media == JSON:
            body = json.loads(raw)
            is_json = True
        elif media == FORM:
            body = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                  max_num_fields=100))
            is_json = False
        else:
            raise DatabaseConnectionError(f"Content-Type must be {JSON} or {FORM}.",
                                          code="invalid_body")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DatabaseConnectionError("The body could not be read.", code="invalid_body") from exc
    if not isinstance(body, dict):
        raise DatabaseConnectionError("The body must be an object.", code="invalid_body")
    if any(isinstance(v, str) and "\x00" in v for v in body.values()):
        raise DatabaseConnectionError("NUL characters are not allowed.", code="invalid_body")
    return body, is_json


def _own_origin(request: Request) -> bool:
    expected = cors.origin_of_url(_rt(request).settings.issuer)
    return cors.request_origin(request) == expected


def _require_own_origin(request: Request) -> None:
    if not _own_origin(request):
        raise AuthorizeRequestError("This form must be sent from the sign-in page itself.",
                                    detail="cross-origin or Origin-less POST to a hosted form")


async def _cross_origin(request: Request, client_id: Any) -> tuple[str | None, bool]:
    """The request's Origin and whether it may read the answer. An Origin that is neither
    ours nor one of the client's web origins is refused outright: the browser would hide
    the answer anyway, but the login or sign-up would already have happened."""
    rt = _rt(request)
    origin = cors.request_origin(request)
    cid = client_id if isinstance(client_id, str) else None
    allowed = await cors.allowed_for(rt, origin, cid) if cid else False
    if origin is not None and not allowed and not _own_origin(request):
        raise AccessDenied(f"Origin {origin} is not allowed for this application.")
    return origin, allowed


def _cors(response: Response, origin: str | None, allowed: bool) -> Response:
    return cors.add_headers(response, origin, allowed, credentials=True)


def _secure(rt: Runtime) -> bool:
    return rt.settings.issuer.startswith("https://")


def _set_ticket_cookie(response: Response, rt: Runtime, binding: str) -> None:
    # Over https, SameSite=None: /co/authenticate is a cross-site request from the app's
    # page, and only such a cookie is stored there. Over plain http browsers refuse
    # SameSite=None without Secure; Lax serves an app on the same site (loopback).
    response.set_cookie(login.TICKET_COOKIE, binding, max_age=rt.settings.login_ticket_ttl,
                        path="/", httponly=True, secure=_secure(rt),
                        samesite="none" if _secure(rt) else "lax")


def _clear_ticket_cookie(response: Response, rt: Runtime) -> None:
    response.delete_cookie(login.TICKET_COOKIE, path="/", httponly=True, secure=_secure(rt),
                           samesite="none" if _secure(rt) else "lax")


async def _preflight_or(request: Request) -> Response | None:
    if request.method == "OPTIONS":
        return await cors.preflight(request, ["POST"], credentials=True)
    return None


# --- the cross-origin API (auth0-js, Lock, auth0-python) ---------------------------------


Handler = Callable[[Runtime, dict[str, Any], Request], Awaitable[Response]]


async def _credentialed(request: Request, handle: Handler, *, oauth_login: bool = False
                       ) -> Response:
    """The frame of the credentialed cross-origin endpoints (/dbconnections/*,
    /co/authenticate): answer a preflight; read the body; find whether its client allows the
    page's origin; run ``handle``; map a typed error in the one place; add the CORS headers
    (to errors too, so the page can read them). ``oauth_login`` (/co/authenticate): the body
    must be JSON, and auth0-js reads only error/error_description there, so every refusal of
    the database-connection kind becomes access_denied."""
    if (answer := await _preflight_or(request)) is not None:
        return answer
    origin, allowed = None, False
    try:
        body, is_json = await _body(request)
        if oauth_login and not is_json:
            raise AccessDenied("The body must be JSON.")
        origin, allowed = await _cross_origin(request, body.get("client_id"))
        response = await handle(_rt(request), body, request)
    except DatabaseConnectionError as exc:
        response = await handle_idbroker_error(
            request, AccessDenied(exc.description) if oauth_login else exc)
    except IdbrokerError as exc:
        response = await handle_idbroker_error(request, exc)
    return _cors(response, origin, allowed)


async def _signup(rt: Runtime, body: dict[str, Any], request: Request) -> Response:
    out, user_id, database = await accounts.signup(rt, body, _ip(request))
    return JSONResponse(out, headers=NO_STORE, background=BackgroundTask(
        reset.send_verification, rt, user_id, out["email"], database.connection.id,
        client_id=body.get("client_id")))


async def _change_password(rt: Runtime, body: dict[str, Any], request: Request) -> Response:
    work = await reset.request_reset(rt, body, _ip(request))
    # The answer goes first; the lookup and the mail run after it (dbconn/reset.py).
    return PlainTextResponse(reset.RESET_SENT, headers=NO_STORE, background=BackgroundTask(work))


async def _co_authenticate(rt: Runtime, body: dict[str, Any], request: Request) -> Response:
    out, binding, _client = await login.co_authenticate(rt, body, _ip(request))
    response = JSONResponse(out, headers=NO_STORE)
    _set_ticket_cookie(response, rt, binding)
    return response


async def signup_endpoint(request: Request) -> Response:
    return await _credentialed(request, _signup)


async def change_password_endpoint(request: Request) -> Response:
    return await _credentialed(request, _change_password)


async def co_authenticate_endpoint(request: Request) -> Response:
    return await _credentialed(request, _co_authenticate, oauth_login=True)


async def challenge_endpoint(request: Request) -> Response:
    """Lock asks whether a captcha is required (only when given a ``state``): never."""
    if (answer := await _preflight_or(request)) is not None:
        return answer
    origin = cors.request_origin(request)
    allowed = origin is not None and origin in await cors.any_client_origins(_rt(request))
    return _cors(JSONResponse({"required": False}, headers=NO_STORE), origin, allowed)


# --- the hosted login form and Lock in hosted mode ---------------------------------------


def _authorize_pairs(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in body.items() if isinstance(v, str) and k not in _NOT_AUTHORIZE]


async def _login_page(rt: Runtime, pairs: list[tuple[str, str]],
                      connection: str | None) -> LoginPage:
    """The login page these /authorize parameters show (client and redirect URI checked)."""
    params = dict(pairs)
    client_id = params.get("client_id") or ""
    client = await rt.store.get_client(client_id) if 0 < len(client_id) <= 64 else None
    if client is None:
        raise AuthorizeRequestError("Unknown client.")
    if params.get("redirect_uri") not in client.callbacks:
        raise AuthorizeRequestError(
            "The redirect_uri is not in the application's allowed callback URLs.")
    enabled = [c for c in await rt.store.list_connections()
               if client.client_id in c.enabled_clients]
    query = [*pairs, ("connection", connection)] if connection else list(pairs)
    return LoginPage(client=client, connections=enabled, query=query)


def outcome_response(request: Request, outcome: Any) -> Response:
    rt = _rt(request)
    if isinstance(outcome, ClientRedirect):
        from idbroker.http.oauth_routes import client_redirect  # oauth_routes imports pages

        return session_cookie.apply(client_redirect(outcome, request), outcome.session_cookie,
                                    rt.settings)
    if isinstance(outcome, ConsentPage):
        return session_routes.consent_page(request, outcome)
    if isinstance(outcome, LoginPage):
        return pages.login_response(request, outcome)
    assert isinstance(outcome, UpstreamRedirect)
    return RedirectResponse(outcome.url, status_code=302, headers=NO_STORE)


async def _finish(request: Request, pairs: list[tuple[str, str]], ticket: str,
                  binding: str) -> Response:
    """Redeem a ticket just issued in this request, through /authorize's own checks."""
    rt = _rt(request)
    cookies = {**request.cookies, login.TICKET_COOKIE: binding}
    outcome = await authorize(rt, [*pairs, ("login_ticket", ticket)], cookies, _ip(request))
    return outcome_response(request, outcome)


def _ticket_form(rt: Runtime, pairs: list[tuple[str, str]], ticket: str) -> str:
    """Auth0's answer to Lock's hosted-mode login: HTML whose first element is a form, which
    auth0-js submits (``div.children[0].submit()``)."""
    return render_page("dbconn_ticket_form.html", action=f"{rt.settings.issuer}login/ticket",
                       fields=[*pairs, ("login_ticket", ticket)])


async def usernamepassword_login_endpoint(request: Request) -> Response:
    rt = _rt(request)
    _require_own_origin(request)
    try:
        body, is_json = await _body(request)
    except DatabaseConnectionError:
        raise AuthorizeRequestError("The sign-in form could not be read.") from None
    pairs = _authorize_pairs(body)
    connection = body.get("connection") or body.get("realm")
    page = await _login_page(rt, pairs, connection if isinstance(connection, str) else None)
    database = await accounts.database_for(rt, connection, page.client)
    identifier = body.get("username") if isinstance(body.get("username"), str) else None
    try:
        if database is None:
            raise DatabaseConnectionError(
                "The connection does not exist or is not enabled for this application.",
                code="invalid_connection")
        user_id = await login.authenticate(rt, database, identifier, body.get("password"),
                                           ip=_ip(request), client_id=page.client.client_id)
    except (AccessDenied, TooManyAttempts, DatabaseConnectionError) as exc:
        return _login_failed(request, page, exc, is_json, identifier)
    binding = secrets.token_urlsafe(24)
    ticket = await login.issue_ticket(rt, user_id=user_id, database=database,
                                      client_id=page.client.client_id, binding=binding)
    pairs.append(("realm", database.connection.name))
    if is_json:
        response: Response = HTMLResponse(_ticket_form(rt, pairs, ticket), headers=NO_STORE)
        _set_ticket_cookie(response, rt, binding)
        return response
    return await _finish(request, pairs, ticket, binding)


def _login_failed(request: Request, page: LoginPage, exc: IdbrokerError, is_json: bool,
                  identifier: str | None) -> Response:
    too_many = isinstance(exc, TooManyAttempts)
    if is_json:
        # Lock reads code and description of this legacy shape.
        if isinstance(exc, DatabaseConnectionError):
            body = {"name": exc.name, "code": exc.code, "description": exc.description,
                    "statusCode": exc.status_code}
            return JSONResponse(body, status_code=exc.status_code, headers=NO_STORE)
        code = "too_many_attempts" if too_many else "invalid_user_password"
        status = 429 if too_many else 401
        return JSONResponse({"name": "ValidationError", "code": code,
                             "description": exc.description, "statusCode": status},
                            status_code=status, headers=NO_STORE)
    from idbroker.http.pages import locale_for
    from idbroker.http.i18n import translate

    key = "db.too_many_attempts" if too_many else "db.wrong_credentials"
    return pages.login_response(request, page, error=translate(locale_for(request), key),
                                value=identifier, status=429 if too_many else 401)


async def ticket_endpoint(request: Request) -> Response:
    """Where the form answered to Lock's hosted-mode login posts: redeem the ticket through
    /authorize's checks, with the binding cookie set alongside the ticket."""
    rt = _rt(request)
    _require_own_origin(request)
    form = await request.form(max_files=0, max_fields=100)
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    outcome = await authorize(rt, pairs, request.cookies, _ip(request))
    response = outcome_response(request, outcome)
    _clear_ticket_cookie(response, rt)
    return response


# --- hosted sign-up, forgot-password, reset and verification pages ---------------------------


def _t(request: Request, key: str) -> str:
    from idbroker.http.i18n import translate
    from idbroker.http.pages import locale_for

    return translate(locale_for(request), key)


async def _database_page(request: Request, pairs: list[tuple[str, str]],
                         connection: Any) -> tuple[LoginPage, accounts.Database]:
    rt = _rt(request)
    page = await _login_page(rt, pairs, connection if isinstance(connection, str) else None)
    database = await accounts.database_for(rt, connection, page.client)
    if database is None:
        raise AuthorizeRequestError(
            "The connection does not exist or is not enabled for this application.")
    return page, database


async def signup_page_endpoint(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        query = request.query_params.multi_items()
        page, database = await _database_page(
            request, [(k, v) for k, v in query if k not in _NOT_AUTHORIZE],
            request.query_params.get("connection"))
        if database.options.disable_signup:
            raise AuthorizeRequestError("Sign-up is not available for this application.")
        return pages.signup_response(request, page, database.connection)
    _require_own_origin(request)
    try:
        body, _ = await _body(request)
    except DatabaseConnectionError:
        raise AuthorizeRequestError("The sign-up form could not be read.") from None
    pairs = _authorize_pairs(body)
    page, database = await _database_page(request, pairs, body.get("connection"))
    values = {k: body[k] for k in ("email", "username") if isinstance(body.get(k), str)}
    try:
        out, user_id, _ = await accounts.signup(rt, {
            **values, "password": body.get("password"), "client_id": page.client.client_id,
            "connection": database.connection.name}, _ip(request))
    except DatabaseConnectionError as exc:
        rules = exc.body.get("policy") if isinstance(exc.body.get("policy"), str) else None
        return pages.signup_response(
            request, page, database.connection, values=values, rules=rules, status=400,
            error=_t(request, _ERROR_KEYS.get(exc.code, "db.invalid_signup")))
    # Signed up: straight in, as Lock does after a sign-up.
    binding = secrets.token_urlsafe(24)
    ticket = await login.issue_ticket(rt, user_id=user_id, database=database,
                                      client_id=page.client.client_id, binding=binding)
    response = await _finish(request, [*pairs, ("realm", database.connection.name)], ticket,
                             binding)
    response.background = BackgroundTask(
        reset.send_verification, rt, user_id, out["email"], database.connection.id,
        client_id=page.client.client_id)
    return response


async def forgot_page_endpoint(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        query = request.query_params.multi_items()
        page, database = await _database_page(
            request, [(k, v) for k, v in query if k not in _NOT_AUTHORIZE],
            request.query_params.get("connection"))
        return pages.forgot_response(request, page, database.connection)
    _require_own_origin(request)
    try:
        body, _ = await _body(request)
    except DatabaseConnectionError:
        raise AuthorizeRequestError("The form could not be read.") from None
    page, database = await _database_page(request, _authorize_pairs(body), body.get("connection"))
    try:
        work = await reset.request_reset(rt, {
            "client_id": page.client.client_id, "connection": database.connection.name,
            "email": body.get("email")}, _ip(request))
    except DatabaseConnectionError as exc:
        return pages.forgot_response(request, page, database.connection, status=400,
                                     error=_t(request, _ERROR_KEYS.get(exc.code,
                                                                       "db.invalid_email")))
    response = pages.forgot_response(request, page, database.connection, sent=True)
    response.background = BackgroundTask(work)
    return response


def _link_invalid(request: Request) -> Response:
    return pages.notice_response(request, title_key="reset.title", message_key="db.link_invalid",
                                 status=400)


async def reset_page_endpoint(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        ticket = request.query_params.get("ticket") or ""
        form = await reset.reset_form(rt, ticket)
        if form is None:
            return _link_invalid(request)
        return pages.reset_response(request, ticket=ticket, email=form.email,
                                    min_length_=form.min_length,
                                    policy=reset.policy.describe(form.options))
    _require_own_origin(request)
    try:
        body, _ = await _body(request)
    except DatabaseConnectionError:
        raise AuthorizeRequestError("The form could not be read.") from None
    ticket = body.get("ticket") if isinstance(body.get("ticket"), str) else ""
    form = await reset.reset_form(rt, ticket)
    if form is None:
        return _link_invalid(request)
    password = body.get("password") if isinstance(body.get("password"), str) else ""

    def again(key: str, rules: str | None = None) -> Response:
        assert form is not None
        return pages.reset_response(request, ticket=ticket, email=form.email,
                                    min_length_=form.min_length,
                                    policy=reset.policy.describe(form.options),
                                    error=_t(request, key), rules=rules, status=400)

    if password != body.get("password_confirm"):
        return again("db.passwords_differ")
    try:
        done = await reset.reset_password(rt, ticket, password, _ip(request))
    except DatabaseConnectionError as exc:
        rules = exc.body.get("policy") if isinstance(exc.body.get("policy"), str) else None
        return again(_ERROR_KEYS.get(exc.code, "db.password_weak"), rules)
    if not done:
        return _link_invalid(request)
    return pages.notice_response(request, title_key="reset.title", message_key="reset.done")


async def verify_page_endpoint(request: Request) -> Response:
    if not await reset.verify_email(_rt(request), request.query_params.get("ticket") or ""):
        return pages.notice_response(request, title_key="db.verify_title",
                                     message_key="db.link_invalid", status=400)
    return pages.notice_response(request, title_key="db.verify_title", message_key="db.verified")


routes = [
    Route("/dbconnections/signup", signup_endpoint, methods=["POST", "OPTIONS"]),
    Route("/dbconnections/change_password", change_password_endpoint,
          methods=["POST", "OPTIONS"]),
    Route("/co/authenticate", co_authenticate_endpoint, methods=["POST", "OPTIONS"]),
    Route("/usernamepassword/challenge", challenge_endpoint, methods=["POST", "OPTIONS"]),
    Route("/dbconnections/signup/challenge", challenge_endpoint, methods=["POST", "OPTIONS"]),
    Route("/dbconnections/change_password/challenge", challenge_endpoint,
          methods=["POST", "OPTIONS"]),
    Route(pages.LOGIN_PATH, usernamepassword_login_endpoint, methods=["POST"]),
    Route(TICKET_PATH, ticket_endpoint, methods=["POST"]),
    Route(pages.SIGNUP_PATH, signup_page_endpoint, methods=["GET", "POST"]),
    Route(pages.FORGOT_PATH, forgot_page_endpoint, methods=["GET", "POST"]),
    Route(pages.RESET_PATH, reset_page_endpoint, methods=["GET", "POST"]),
    Route("/lo/verify", verify_page_endpoint, methods=["GET"]),
]
