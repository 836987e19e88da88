"""GET /authorize: validate the app's request, then send the person upstream.

Order matters (RFC 6749 §4.1.2.1): until the client and its exact redirect URI are known
good, every error is shown on our own page and nothing redirects. After that, errors go back
to the app's redirect URI with its ``state`` and our ``iss`` (RFC 9207).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idbroker.connectors.base import UpstreamAuthorization, start_authorization
from idbroker.dbconn import STRATEGY as DATABASE_STRATEGY
from idbroker.errors import (
    AccessDenied, AuthorizeRequestError, ConfigurationError, InteractionRequired, InvalidRequest,
    LoginRequired, OAuthError, TemporarilyUnavailable, UnsupportedResponseType, UpstreamDenied,
    UpstreamError,
)
from idbroker.oauth import login_transaction, pkce, scopes, sessions
from idbroker.oauth.sessions import SessionCookie
from idbroker.runtime import Runtime
from idbroker.vault import resource_server_store as rs_store
from idbroker.vault.records import Client, Connection

RESPONSE_MODES = ("query", "fragment", "form_post", "web_message")
# The legacy implicit flow, only for clients whose grant_types include "implicit"
# (docs/sessions.md#implicit-flow). Hybrid types (code plus tokens) are not offered.
IMPLICIT_RESPONSE_TYPES = (frozenset({"token"}), frozenset({"id_token"}),
                           frozenset({"id_token", "token"}))
MAX_PARAM_CHARS = 4096
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClientRedirect:
    """A response for the app, at its registered redirect URI."""

    redirect_uri: str
    response_mode: str
    params: dict[str, str]
    # Set or clear the login-session cookie along with this answer (docs/sessions.md).
    session_cookie: SessionCookie | None = None
    # response_mode=web_message: the client's web origins, allowed to frame the answer
    # besides the redirect URI's own origin.
    frame_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentPage:
    """A third-party application asks for scopes the person has not yet allowed."""

    client: Client
    scopes: list[str]
    consent_id: str
    session_cookie: SessionCookie | None = None


@dataclass(frozen=True, slots=True)
class UpstreamRedirect:
    url: str
    binding_cookie: tuple[str, str]


@dataclass(frozen=True, slots=True)
class LoginPage:
    client: Client
    connections: list[Connection]
    query: list[tuple[str, str]] = field(default_factory=list)


AuthorizeOutcome = ClientRedirect | UpstreamRedirect | LoginPage | ConsentPage


binding_cookie_name = login_transaction.cookie_name


async def authorize(rt: Runtime, pairs: Sequence[tuple[str, str]],
                    cookies: Mapping[str, str] | None = None,
                    ip: str | None = None) -> AuthorizeOutcome:
    """``cookies``: the request's cookies (the login session's among them)."""
    params, duplicated = _single_values(pairs)
    client, redirect_uri = await _trusted_target(rt, params, duplicated)
    response_mode = answer_mode(params, redirect_uri, "implicit" in client.grant_types)
    state = params.get("state")
    try:
        return await _authorize(rt, client, redirect_uri, params, duplicated, pairs,
                                dict(cookies or {}), ip)
    except OAuthError as exc:
        out = error_redirect(rt, redirect_uri, response_mode, state, exc)
    except (UpstreamError, ConfigurationError) as exc:
        log.warning("upstream unusable at /authorize: %s", exc.detail)
        out = error_redirect(rt, redirect_uri, response_mode, state, upstream_oauth_error(exc))
    return dataclasses.replace(out, frame_origins=tuple(client.web_origins))


def answer_mode(params: Mapping[str, str], redirect_uri: str, implicit_allowed: bool) -> str:
    """How the answer (or an error) reaches the app: the requested response_mode when it is
    one we speak, else the response type's default (fragment for tokens, OAuth 2.0 Multiple
    Response Types §5; only for a client that has the implicit flow at all, others expect
    every answer in the query). web_message needs an http(s) redirect URI: its origin is
    the only window the answer may be posted to."""
    mode = params.get("response_mode") or ""
    if mode == "web_message" and urlsplit(redirect_uri).scheme not in ("http", "https"):
        mode = ""
    if mode in RESPONSE_MODES:
        return mode
    types = frozenset((params.get("response_type") or "").split(" "))
    return "fragment" if implicit_allowed and types in IMPLICIT_RESPONSE_TYPES else "query"


def upstream_oauth_error(exc: UpstreamError | ConfigurationError) -> OAuthError:
    if isinstance(exc, UpstreamError):
        error = exc.oauth_error(exc.description)
        # This answer goes to the app's redirect URI, where RFC 6749 §4.1.2.1 allows no
        # token-endpoint codes: an upstream invalid_grant (e.g. our PKCE verifier refused
        # because someone swapped the challenge) means the sign-in was refused.
        if not isinstance(error, (AccessDenied, TemporarilyUnavailable)):
            return AccessDenied(UpstreamDenied.description)
        return error
    return TemporarilyUnavailable("The connection is misconfigured.")


def error_redirect(rt: Runtime, redirect_uri: str, response_mode: str, state: str | None,
                   exc: OAuthError) -> ClientRedirect:
    out = {"error": exc.error, "error_description": exc.description, "iss": rt.settings.issuer}
    if state is not None:
        out["state"] = state
    return ClientRedirect(redirect_uri, response_mode, out)


def _single_values(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], set[str]]:
    params: dict[str, str] = {}
    duplicated: set[str] = set()
    for key, value in pairs:
        if key in params:
            duplicated.add(key)
        params[key] = value
    return params, duplicated


async def _trusted_target(rt: Runtime, params: dict[str, str],
                          duplicated: set[str]) -> tuple[Client, str]:
    if {"client_id", "redirect_uri"} & duplicated:
        raise AuthorizeRequestError("client_id and redirect_uri may appear only once.")
    client_id = params.get("client_id")
    if not client_id or len(client_id) > 64:
        raise AuthorizeRequestError("Missing or invalid client_id.")
    client = await rt.store.get_client(client_id)
    if client is None:
        raise AuthorizeRequestError("Unknown client.")
    redirect_uri = params.get("redirect_uri")
    # Exact string comparison (RFC 9700 §4.1.3): no normalisation, no prefix, no wildcard.
    if not redirect_uri or redirect_uri not in client.callbacks:
        raise AuthorizeRequestError(
            "The redirect_uri is not in the application's allowed callback URLs.")
    return client, redirect_uri


async def _authorize(rt: Runtime, client: Client, redirect_uri: str, params: dict[str, str],
                     duplicated: set[str], pairs: Sequence[tuple[str, str]],
                     cookies: dict[str, str], ip: str | None) -> AuthorizeOutcome:
    if duplicated:
        raise InvalidRequest(f"parameter {sorted(duplicated)[0]} appears more than once")
    if any(len(v) > MAX_PARAM_CHARS for v in params.values()):
        raise InvalidRequest("a parameter is too long")
    if not params.get("response_type"):
        # RFC 6749 §4.1.2.1: a missing required parameter is invalid_request.
        raise InvalidRequest("response_type is required")
    # Exactly space-separated names, each once, in any order (OAuth 2.0 Multiple Response
    # Types §2); stray spaces or case variants are not the same response type.
    names = params["response_type"].split(" ")
    response_type = " ".join(sorted(set(names))) if len(set(names)) == len(names) else ""
    if response_type == "code":
        if "authorization_code" not in client.grant_types:
            raise UnsupportedResponseType(
                "the application is not allowed the authorization_code grant")
    elif frozenset(response_type.split()) in IMPLICIT_RESPONSE_TYPES:
        if "implicit" not in client.grant_types:
            raise UnsupportedResponseType("the application is not allowed the implicit grant")
    else:
        raise UnsupportedResponseType(
            "response_type must be code (or token, id_token, id_token token if the "
            "application allows the implicit grant)")
    if params.get("response_mode", "query") not in RESPONSE_MODES:
        raise InvalidRequest("unsupported response_mode")
    response_mode = answer_mode(params, redirect_uri, "implicit" in client.grant_types)
    if params.get("response_mode") == "web_message" and response_mode != "web_message":
        raise InvalidRequest("response_mode=web_message needs an http(s) redirect_uri")
    if response_type == "code":
        pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
        if client.is_public and not params.get("code_challenge"):
            raise InvalidRequest("public clients must use PKCE (code_challenge with S256)")
    else:
        if response_mode == "query":
            # Tokens never travel in a query string (OAuth 2.0 Multiple Response Types §3.0).
            raise InvalidRequest("response_mode=query cannot carry tokens")
        if "id_token" in response_type and not params.get("nonce"):
            raise InvalidRequest("nonce is required when an ID token is returned")
    prompts = set((params.get("prompt") or "").split())
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other prompt values")
    max_age = _max_age(params.get("max_age"))
    # A person's login grants only OpenID Connect scopes. Anything else is dropped (as Auth0
    # drops scopes it does not grant): otherwise any app user could ask for
    # "read:user_idp_tokens" with audience=.../api/v2/ and get a Management API token that
    # reads everybody's upstream tokens. Management scopes come only from client grants
    # (ASVS 10.4.11, 8.2.3).
    asked = scopes.parse(params.get("scope") or "openid")
    audience = params.get("audience") or None
    api_scopes: list[str] = []
    if audience is not None and audience not in rt.settings.management_audience_aliases:
        # An API registered as a resource server. RBAC is off (docs/resource-servers.md):
        # the person gets the requested scopes that this API defines, and nothing else.
        server = await rs_store.get_by_identifier(rt.store, audience)
        if server is None:
            raise AccessDenied(f"Service not found: {audience}")
        api_scopes = server.scope_values
    requested = [s for s in asked if s in scopes.OIDC_SCOPES or s in api_scopes]
    if "id_token" in response_type and "openid" not in requested:
        raise InvalidRequest("an ID token needs the openid scope")
    extra_scopes = [s for s in (params.get("connection_scope") or "").replace(" ", ",").split(",") if s]
    scopes.parse(" ".join(extra_scopes))

    enabled = [c for c in await rt.store.list_connections() if client.client_id in c.enabled_clients]
    connection_name = params.get("connection")
    tx: dict[str, Any] = {
        "client_id": client.client_id, "redirect_uri": redirect_uri,
        "response_type": response_type, "response_mode": response_mode,
        "state": params.get("state"), "nonce": params.get("nonce"),
        "scope": requested, "audience": audience,
        "code_challenge": params.get("code_challenge"),
        "web_origins": list(client.web_origins),
    }
    if params.get("login_ticket"):
        # A password login already proven at POST /co/authenticate (dbconn/login.py).
        from idbroker.dbconn.login import redeem_ticket
        return await redeem_ticket(rt, client, params, cookies, tx, ip)
    cookie = sessions.presented(cookies)
    session = None if "login" in prompts else await sessions.live(rt, cookie)
    if session is not None and params.get("id_token_hint") \
            and _hinted_subject(rt, params["id_token_hint"]) != session.user.user_id:
        # OIDC Core §3.1.2.1: the app expects another person than the one signed in here.
        session = None
    if session is not None and sessions.satisfies(session, connection=connection_name,
                                                  max_age=max_age) \
            and any(c.name == session.record.connection for c in enabled):
        if extra_scopes:
            # More upstream scopes (incremental consent) need a trip to the upstream.
            if "none" in prompts:
                raise InteractionRequired("The requested connection scopes need the upstream")
        else:
            from idbroker.oauth.login_completion import answer_from_session
            assert cookie is not None
            return await answer_from_session(rt, tx, session, cookie_value=cookie, ip=ip,
                                             silent="none" in prompts,
                                             force_consent="consent" in prompts)
    if "none" in prompts:
        raise LoginRequired("Login required")
    if not connection_name:
        return LoginPage(client=client, connections=enabled, query=list(pairs))
    connection = next((c for c in enabled if c.name == connection_name), None)
    if connection is None:
        raise InvalidRequest("the connection is not enabled for this application")
    if connection.strategy == DATABASE_STRATEGY:
        # A database connection signs in with the password form of the login page.
        return LoginPage(client=client, connections=[connection], query=list(pairs))

    state = login_transaction.new_state()
    upstream_nonce = secrets.token_urlsafe(24)
    verifier = pkce.new_verifier()
    # The connector goes first: an OAuth 1.0a upstream hands out a request token whose
    # secret must be sealed into the transaction (connector_state).
    start = await start_authorization(rt.connector(connection), UpstreamAuthorization(
        callback_url=rt.callback_url, state=state, nonce=upstream_nonce, code_verifier=verifier,
        extra_scopes=extra_scopes, request_params=params))
    # Sealed into the binding cookie: nothing is written here (oauth/login_transaction.py).
    binding = await login_transaction.begin(rt, state, {
        **tx, "connection_id": connection.id, "upstream_nonce": upstream_nonce,
        "upstream_verifier": verifier, "extra_scopes": extra_scopes,
        "connector_state": start.connector_state,
    })
    return UpstreamRedirect(url=start.url, binding_cookie=(binding_cookie_name(state), binding))


def _max_age(value: str | None) -> int | None:
    """OIDC Core §3.1.2.1 max_age: seconds since the person last authenticated."""
    if value is None or value == "":
        return None
    if not re.fullmatch(r"[0-9]{1,10}", value):
        raise InvalidRequest("max_age must be a non-negative integer")
    return int(value)


def _hinted_subject(rt: Runtime, hint: str) -> str:
    from idbroker.oauth.logout import id_token_hint_claims

    try:
        return str(id_token_hint_claims(rt, hint)["sub"])
    except AuthorizeRequestError as exc:
        raise InvalidRequest("id_token_hint is not a valid ID token of this issuer") from exc
