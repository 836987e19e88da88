"""A small in-memory OpenID Connect provider that plays the *upstream* IdP.

``idbroker demo`` serves it next to idbroker; the test suite uses it as a faithful
fake upstream whose defects are injected through :class:`IdpHooks`. It implements
the code flow of OIDC Core with RFC 6749, 7636 (S256 only), 7009, 7662 and 9207.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idbroker.demo.idp_model import (
    _NO_STORE,
    AUTHORIZE_PARAMS,
    CODE_TTL,
    DEFAULT_DEMO_USERS,
    EMAIL_CLAIMS,
    ID_TOKEN_TTL,
    PROFILE_CLAIMS,
    REFRESH_TOKEN_TTL,
    AuthorizationCode,
    DemoClient,
    DemoIdp,
    DemoIdpConfig,
    DemoUser,
    Grant,
    IdpHooks,
    IssuedToken,
    OAuthError,
    _merge,
    _required,
    _single_values,
)

__all__ = [
    "AUTHORIZE_PARAMS",
    "CODE_TTL",
    "DEFAULT_DEMO_USERS",
    "EMAIL_CLAIMS",
    "ID_TOKEN_TTL",
    "PROFILE_CLAIMS",
    "REFRESH_TOKEN_TTL",
    "AuthorizationCode",
    "DemoClient",
    "DemoIdp",
    "DemoIdpConfig",
    "DemoUser",
    "Grant",
    "IdpHandler",
    "IdpHooks",
    "IssuedToken",
    "OAuthError",
    "create_demo_idp",
]


# -- HTTP layer -------------------------------------------------------------

IdpHandler = Callable[[DemoIdp, Request], Awaitable[Response]]


def _counted(name: str, handler: IdpHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        idp: DemoIdp = request.app.state.idp
        idp.calls[name] += 1
        return await handler(idp, request)

    return endpoint


async def _discovery(idp: DemoIdp, request: Request) -> Response:
    return JSONResponse(idp.discovery())


async def _jwks(idp: DemoIdp, request: Request) -> Response:
    return JSONResponse({"keys": [idp.key.as_dict(private=False)]})


async def _authorize(idp: DemoIdp, request: Request) -> Response:
    return idp.authorize(request.query_params.multi_items(), status=302)


async def _decision(idp: DemoIdp, request: Request) -> Response:
    items = parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True)
    chosen = dict(items)
    params = [(k, v) for k, v in items if k in AUTHORIZE_PARAMS]
    return idp.authorize(params, 303, chosen_sub=chosen.get("user"), deny="deny" in chosen)


async def _token(idp: DemoIdp, request: Request) -> Response:
    hooks = idp.hooks
    await asyncio.sleep(hooks.token_delay)
    if (hooks.token_status, hooks.token_body, hooks.token_content_type) != (None, None, None):
        return Response(
            hooks.token_body or "",
            status_code=hooks.token_status or 200,
            media_type=hooks.token_content_type or "application/json",
        )
    try:
        if hooks.token_error:
            status = 401 if hooks.token_error == "invalid_client" else 400
            raise OAuthError(hooks.token_error, "Injected error.", status)
        form = await _read_form(request)
        client = idp.authenticate_client(request, form)
        grant_type = _required(form, "grant_type")
        if grant_type == "authorization_code":
            body = idp.exchange_code(client, form)
        elif grant_type == "refresh_token":
            body = idp.refresh(client, form)
        else:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}")
    except OAuthError as exc:
        return exc.response()
    body = _apply_token_hooks(body, hooks)
    idp.issued.append(body)
    return JSONResponse(body, headers=_NO_STORE)


async def _userinfo(idp: DemoIdp, request: Request) -> Response:
    if idp.hooks.userinfo_status is not None:
        status = idp.hooks.userinfo_status
        error = "invalid_token" if status == 401 else "server_error"
        return _bearer_error(error, "Injected failure.", status)
    token = _bearer_token(idp, request)
    if isinstance(token, Response):
        return token
    if "openid" not in token.scope:
        return _bearer_error("insufficient_scope", "The token lacks the openid scope.", 403)
    claims = {"sub": token.grant.sub, **idp.user_claims(token.grant.sub, token.scope)}
    return JSONResponse(_merge(claims, idp.hooks.userinfo_claims), headers=_NO_STORE)


async def _revoke(idp: DemoIdp, request: Request) -> Response:
    try:
        form = await _read_form(request)
        idp.revoke(idp.authenticate_client(request, form), _required(form, "token"))
    except OAuthError as exc:
        return exc.response()
    return Response(status_code=200, headers=_NO_STORE)


async def _introspect(idp: DemoIdp, request: Request) -> Response:
    try:
        form = await _read_form(request)
        idp.authenticate_client(request, form)
        return JSONResponse(idp.introspect(_required(form, "token")), headers=_NO_STORE)
    except OAuthError as exc:
        return exc.response()


async def _api_me(idp: DemoIdp, request: Request) -> Response:
    token = _bearer_token(idp, request)
    if isinstance(token, Response):
        return token
    user = idp.users.get(token.grant.sub)
    name = user.name if user else token.grant.sub
    message = f"Hello {name}, this answer comes from the Demo IdP's own API"
    body = {"sub": token.grant.sub, "message": message, "scopes": token.scope}
    return JSONResponse(body, headers=_NO_STORE)


def create_demo_idp(config: DemoIdpConfig) -> Starlette:
    """Build the provider; its state is reachable as ``app.state.idp`` (a :class:`DemoIdp`)."""
    prefix = urlsplit(config.issuer).path.rstrip("/")
    endpoints: list[tuple[str, str, IdpHandler, list[str]]] = [
        ("/.well-known/openid-configuration", "discovery", _discovery, ["GET"]),
        ("/jwks", "jwks", _jwks, ["GET"]),
        ("/authorize", "authorize", _authorize, ["GET"]),
        ("/authorize/decision", "decision", _decision, ["POST"]),
        ("/token", "token", _token, ["POST"]),
        ("/userinfo", "userinfo", _userinfo, ["GET", "POST"]),
        ("/revoke", "revoke", _revoke, ["POST"]),
        ("/introspect", "introspect", _introspect, ["POST"]),
        ("/api/me", "api", _api_me, ["GET"]),
    ]
    routes = [
        Route(prefix + path, _counted(name, fn), methods=methods)
        for path, name, fn, methods in endpoints
    ]
    app = Starlette(routes=routes)
    app.state.idp = DemoIdp(config)
    return app


# -- helpers ----------------------------------------------------------------


async def _read_form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded.")
    try:
        items = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise OAuthError("invalid_request", "The body is not valid UTF-8.") from exc
    params, duplicated = _single_values(items)
    if duplicated:
        raise OAuthError("invalid_request", f"Repeated parameters: {sorted(duplicated)}")
    return params


def _bearer_token(idp: DemoIdp, request: Request) -> IssuedToken | Response:
    """The request's active access token, or the RFC 6750 error response to send."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        # RFC 6750 §3.1: no error code when the request carried no credentials at all.
        challenge = {"WWW-Authenticate": 'Bearer realm="demo-idp"'}
        return JSONResponse({"error": "invalid_request"}, 401, challenge)
    token = idp.active_access_token(value.strip())
    if token is None:
        return _bearer_error("invalid_token", "The access token is invalid or expired.", 401)
    return token


def _bearer_error(error: str, description: str, status: int) -> JSONResponse:
    challenge = f'Bearer realm="demo-idp", error="{error}", error_description="{description}"'
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status, headers={"WWW-Authenticate": challenge, **_NO_STORE})


def _apply_token_hooks(body: dict[str, Any], hooks: IdpHooks) -> dict[str, Any]:
    omitted = {"refresh_token"} if hooks.omit_refresh_token else set()
    omitted |= {"expires_in"} if hooks.omit_expires_in else set()
    body = {k: v for k, v in body.items() if k not in omitted}
    if hooks.token_type is not None:
        body["token_type"] = hooks.token_type
    return body
