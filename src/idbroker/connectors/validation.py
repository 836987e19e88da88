"""Asking the upstream IdP whether a stored access token is still live.

RFC 7662 introspection where the connection has an endpoint (``oidc``: options or discovery's
``introspection_endpoint``); otherwise a probe: the token is presented as a bearer token to
the userinfo endpoint (``oidc``) or to ``validationURL`` / ``profileURL`` (``oauth2``), and a
2xx answer means live, 401/403 means not. Anything else is an upstream failure, raised as
``UpstreamUnavailable`` / ``UpstreamProtocolError``; never a guess.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from idbroker.connectors.revocation import preferred_auth
from idbroker.connectors.upstream_http import client_auth, request_json
from idbroker.errors import ConfigurationError, UpstreamProtocolError, UpstreamUnavailable


@dataclass(frozen=True, slots=True)
class TokenCheck:
    active: bool
    method: str  # introspection | userinfo | a provider's own (tokeninfo, debug_token, ...)
    scope: str | None = None
    exp: int | None = None  # epoch seconds, as the upstream reports it


async def check_access_token(connector: Any, access_token: str,
                             tokens: Any = None) -> TokenCheck:
    grant_check = getattr(connector, "validate_grant", None)
    if grant_check is not None and tokens is not None:
        # A provider whose only documented check is of the grant (Apple: a refresh_token
        # grant), which needs the whole stored token set rather than the access token.
        result: TokenCheck = await grant_check(tokens)
        return result
    custom = getattr(connector, "validate_token", None)
    if custom is not None:
        # A provider's own check (Google tokeninfo, GitHub's token check, Facebook
        # debug_token): connectors/providers/.
        check: TokenCheck = await custom(access_token)
        return check
    strategy = getattr(connector, "strategy", None)
    options = connector.options
    if strategy == "oidc":
        meta = await connector.metadata()
        url = options.introspection_endpoint or meta.get("introspection_endpoint")
        if isinstance(url, str) and url:
            return await introspect(connector, meta, url, access_token)
        probe_url = meta.get("userinfo_endpoint")
    elif strategy == "oauth2":
        probe_url = options.validationURL or options.profileURL
    else:
        probe_url = None
    if not isinstance(probe_url, str) or not probe_url:
        raise ConfigurationError("the connection has no way to validate tokens")
    return await probe(connector, probe_url, access_token)


async def introspect(connector: Any, meta: dict[str, Any], url: str,
                     token: str) -> TokenCheck:
    """RFC 7662 at ``url`` with the connector's client credentials (the method preferred by
    ``meta``, a discovery document or ``{}``). Provider connectors reuse it."""
    url = connector.policy.check_url(url, "introspection_endpoint")
    data = {"token": token, "token_type_hint": "access_token"}
    method = preferred_auth(meta, "introspection_endpoint_auth_methods_supported",
                             getattr(connector.options, "token_endpoint_auth_method", None))
    auth = client_auth(method, connector.options.client_id, connector.client_secret, data)
    body = await request_json(connector.http, "POST", url, what="introspection",
                              timeout=connector.policy.timeout_s, data=data, auth=auth)
    active = body.get("active")
    if not isinstance(active, bool):
        raise UpstreamProtocolError(detail="introspection: no boolean 'active'")
    if not active:
        # RFC 7662 §2.2: an inactive answer says nothing else worth repeating.
        return TokenCheck(active=False, method="introspection")
    scope, exp = body.get("scope"), body.get("exp")
    return TokenCheck(
        active=True, method="introspection",
        scope=scope if isinstance(scope, str) else None,
        exp=exp if isinstance(exp, int) and not isinstance(exp, bool) else None)


async def probe(connector: Any, url: str, token: str) -> TokenCheck:
    """Present ``token`` as a bearer token at ``url``: 2xx live, 401/403 not, anything else
    an upstream failure (``method: "userinfo"``). Provider connectors reuse it."""
    url = connector.policy.check_url(url, "validation URL")
    timeout = connector.policy.timeout_s
    try:
        async with asyncio.timeout(timeout):
            response = await connector.http.get(url, timeout=timeout, headers={
                "Authorization": f"Bearer {token}", "Accept": "application/json"})
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise UpstreamUnavailable(detail="validation probe: timeout") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(detail=f"validation probe: {type(exc).__name__}") from exc
    if 200 <= response.status_code < 300:
        return TokenCheck(active=True, method="userinfo")
    if response.status_code in (401, 403):
        return TokenCheck(active=False, method="userinfo")
    if response.status_code >= 500 or response.status_code == 429:
        raise UpstreamUnavailable(detail=f"validation probe: HTTP {response.status_code}")
    raise UpstreamProtocolError(detail=f"validation probe: HTTP {response.status_code}")
