"""Hosted pages of database connections: the password form on the login page, the sign-up
page, the forgot-password page, the reset page and the notices after them.

The forms carry the app's original ``/authorize`` query as hidden fields, so the POST that
checks the password re-validates the whole request (client, redirect URI, PKCE…) exactly
like ``/authorize`` does (dbconn/login.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from idbroker.dbconn import STRATEGY
from idbroker.dbconn.options import parse_options
from idbroker.dbconn.policy import describe, min_length
from idbroker.http.pages import html_page
from idbroker.oauth.authorize import LoginPage
from idbroker.vault.records import Connection

LOGIN_PATH = "/usernamepassword/login"
SIGNUP_PATH = "/lo/signup"
FORGOT_PATH = "/lo/forgot"
RESET_PATH = "/lo/reset"
# Query parameters that belong to one screen, never carried to the next.
_SCREEN_PARAMS = frozenset({"connection", "login_ticket", "screen_hint", "realm", "username",
                            "password", "_csrf", "_intstate", "tenant"})


def database_of(page: LoginPage) -> Connection | None:
    return next((c for c in page.connections if c.strategy == STRATEGY), None)


def carried(query: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in query if k not in _SCREEN_PARAMS]


def login_form(page: LoginPage, *, error: str | None = None,
               value: str | None = None) -> dict[str, Any] | None:
    """The ``database`` context of login.html, or None when the app has no database
    connection."""
    connection = database_of(page)
    if connection is None:
        return None
    options = parse_options(connection.options)
    query = [*carried(page.query), ("connection", connection.name)]
    return {
        "action": LOGIN_PATH, "hidden": query,
        "identifier": "email_or_username" if options.requires_username else "email",
        # An app's login_hint fills in the identifier (OIDC Core §3.1.2.1).
        "value": value if value is not None else dict(page.query).get("login_hint"),
        "error": error,
        "signup_href": None if options.disable_signup else f"{SIGNUP_PATH}?{urlencode(query)}",
        "reset_href": f"{FORGOT_PATH}?{urlencode(query)}",
    }


def buttons(page: LoginPage) -> list[dict[str, str]]:
    base = carried(page.query)
    return [{"label": c.display_name or c.name,
             "href": "/authorize?" + urlencode([*base, ("connection", c.name)])}
            for c in page.connections if c.strategy != STRATEGY]


def login_response(request: Request, page: LoginPage, *, error: str | None = None,
                   value: str | None = None, status: int = 200) -> Response:
    """login.html: buttons for upstream connections, the password form for the database
    connection; the sign-up page instead when the app asked for it (``screen_hint=signup``)."""
    if error is None and dict(page.query).get("screen_hint") == "signup":
        connection = database_of(page)
        if connection is not None and not parse_options(connection.options).disable_signup:
            return signup_response(request, page, connection)
    return html_page(request, "login.html", status=status, client_name=page.client.name,
                     answers_to=page.client, connections=buttons(page), database=login_form(page, error=error,
                                                                    value=value))


def signup_response(request: Request, page: LoginPage, connection: Connection, *,
                    error: str | None = None, rules: str | None = None,
                    values: dict[str, str] | None = None, status: int = 200) -> Response:
    options = parse_options(connection.options)
    query = [*carried(page.query), ("connection", connection.name)]
    return html_page(request, "dbconn_signup.html", status=status, client_name=page.client.name,
                     answers_to=page.client,
                     action=SIGNUP_PATH, hidden=query, requires_username=options.requires_username,
                     min_length=min_length(options), policy=describe(options),
                     error=error, rules=rules, values=values or {},
                     login_href="/authorize?" + urlencode(query))


def forgot_response(request: Request, page: LoginPage, connection: Connection, *,
                    sent: bool = False, error: str | None = None, status: int = 200) -> Response:
    query = [*carried(page.query), ("connection", connection.name)]
    return html_page(request, "dbconn_forgot.html", status=status, action=FORGOT_PATH,
                     hidden=query, sent=sent, error=error,
                     login_href="/authorize?" + urlencode(query))


def reset_response(request: Request, *, ticket: str, email: str | None, min_length_: int,
                   policy: str, error: str | None = None, rules: str | None = None,
                   status: int = 200) -> Response:
    return html_page(request, "dbconn_reset.html", status=status, action=RESET_PATH,
                     hidden=[("ticket", ticket)], email=email, min_length=min_length_,
                     policy=policy, error=error, rules=rules)


def notice_response(request: Request, *, title_key: str, message_key: str,
                    status: int = 200) -> Response:
    return html_page(request, "dbconn_notice.html", status=status, title_key=title_key,
                     message_key=message_key)
