"""THE mapping from the error hierarchy to responses. Nothing else builds an error response.

Logs get the error class and its private detail, never a request body, a header value or an
exception message from a library (which can quote SQL parameters or upstream bodies).
"""

from __future__ import annotations

import logging
import traceback

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.errors import (
    AuthorizeRequestError, DatabaseConnectionError, IdbrokerError, InvalidToken, ManagementError,
    OAuthError, Unauthorized, UpstreamError,
)
from idbroker.http.pages import html_page
from idbroker.oauth.client_auth import BasicAuthFailed

log = logging.getLogger("idbroker.http")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_response(exc: OAuthError) -> Response:
    headers = dict(NO_STORE)
    if isinstance(exc, BasicAuthFailed):
        headers["WWW-Authenticate"] = 'Basic realm="idbroker"'
    elif isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = f'Bearer realm="idbroker", error="{exc.error}"'
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def management_response(exc: ManagementError) -> Response:
    body: dict[str, object] = {"statusCode": exc.status_code, "error": exc.error,
                               "message": exc.description}
    if exc.error_code:
        body["errorCode"] = exc.error_code
    headers = dict(NO_STORE)
    if isinstance(exc, Unauthorized):
        body["attributes"] = {"error": exc.description}
        challenge = 'Bearer realm="idbroker"'
        if exc.bearer_error:
            challenge += f', error="{exc.bearer_error}"'
        headers["WWW-Authenticate"] = challenge
    elif exc.error_code == "invalid_request":
        headers["WWW-Authenticate"] = 'Bearer realm="idbroker", error="invalid_request"'
    elif exc.status_code == 403:
        headers["WWW-Authenticate"] = 'Bearer realm="idbroker", error="insufficient_scope"'
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def database_connection_response(exc: DatabaseConnectionError) -> Response:
    body = {"name": exc.name, "code": exc.code, "description": exc.description, **exc.body,
            "statusCode": exc.status_code}
    return JSONResponse(body, status_code=exc.status_code, headers=NO_STORE)


# What the person should do, for the descriptions that have a translated explanation; any
# other description is shown only as a detail for the app's developer, under a general
# explanation. Never an internal detail: only an error's public description reaches a page.
PAGE_MESSAGES = {
    "The sign-in could not be completed: it expired or was already used. Start again.":
        "error.expired",
    "The sign-in could not be completed: it was started in another browser.":
        "error.other_browser",
    "The sign-in could not be completed: missing state.": "error.incomplete",
}


def page_response(request: Request, status: int, description: str | None = None) -> Response:
    """The error page of a browser path, in the person's language (pages.locale_for)."""
    if status >= 500:
        key, detail = "error.server_body", None
    else:
        key = PAGE_MESSAGES.get(description or "", "error.request_invalid")
        detail = None if description in PAGE_MESSAGES else description
    return html_page(request, "error.html", status=status, headers=NO_STORE, http_status=status,
                     message_key=key, detail=detail)


async def handle_idbroker_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdbrokerError)
    log.info("%s %s -> %s%s", request.method, request.url.path, type(exc).__name__,
             f" ({exc.detail})" if exc.detail else "")
    if isinstance(exc, ManagementError):
        return management_response(exc)
    if isinstance(exc, DatabaseConnectionError):
        return database_connection_response(exc)
    if isinstance(exc, OAuthError):
        return oauth_response(exc)
    if isinstance(exc, AuthorizeRequestError):
        return page_response(request, 400, exc.description)
    if isinstance(exc, UpstreamError):
        return oauth_response(exc.oauth_error(exc.description))
    return unexpected(request, exc)


def unexpected(request: Request, exc: Exception) -> Response:
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method,
              request.url.path, frames)
    if request.url.path.startswith("/api/v2/"):
        return JSONResponse({"statusCode": 500, "error": "Internal Server Error",
                             "message": "Internal error"}, status_code=500, headers=NO_STORE)
    if request.url.path in ("/authorize", "/login/callback", "/v2/logout", "/oidc/logout",
                            "/authorize/consent"):
        return page_response(request, 500)
    return JSONResponse({"error": "server_error",
                         "error_description": "The server could not complete the request."},
                        status_code=500, headers=NO_STORE)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    return unexpected(request, exc)


EXCEPTION_HANDLERS = {IdbrokerError: handle_idbroker_error, Exception: handle_unexpected}
