"""Revoking an identity's tokens at the upstream IdP.

``oidc`` connections use RFC 7009 at ``options.revocation_endpoint`` or discovery's
``revocation_endpoint``; ``oauth2`` connections use their configured ``revocationURL`` (the
same RFC 7009 request). The refresh token goes first (with ``token_type_hint=refresh_token``):
revoking it usually ends the whole grant, and if we stopped half-way the access token dies on
its own soon while a live refresh token would not. A connector class may also provide its own
``async revoke_tokens(tokens) -> RevocationResult`` for a provider-specific API.

Every outcome is a value, never an exception: the caller (lifecycle/revocation.py) decides
whether to retry. ``detail`` names what failed and never holds a token or an upstream body.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from idbroker.connectors.upstream_http import client_auth, retry_after
from idbroker.encoding import b64url_decode
from idbroker.errors import ConfigurationError, UpstreamError
from idbroker.vault.records import TokenSet



@dataclass(frozen=True, slots=True)
class RevocationResult:
    ok: bool
    detail: str
    method: str = "rfc7009"  # rfc7009 | none | a provider's own (google_revoke, ...)
    unsupported: bool = False  # the connection has no way to revoke: stop trying
    retry_after_s: float | None = None
    revoked: list[str] = field(default_factory=list)  # token kinds the upstream accepted


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    auth_method: str


async def revocation_endpoint(connector: Any) -> Endpoint | None:
    """Where and how this connection revokes tokens; None when it cannot."""
    options = connector.options
    strategy = getattr(connector, "strategy", None)
    if strategy == "oidc":
        url = options.revocation_endpoint
        meta: dict[str, Any] = {}
        if not url:
            meta = await connector.metadata()
            url = meta.get("revocation_endpoint")
        if not isinstance(url, str) or not url:
            return None
        return Endpoint(connector.policy.check_url(url, "revocation_endpoint"),
                        preferred_auth(meta, "revocation_endpoint_auth_methods_supported",
                                        options.token_endpoint_auth_method))
    if strategy == "oauth2" and options.revocationURL:
        return Endpoint(connector.policy.check_url(options.revocationURL, "options.revocationURL"),
                        options.revocation_auth)
    return None


def preferred_auth(meta: dict[str, Any], key: str, configured: str | None) -> str:
    if configured:
        return configured
    supported = meta.get(key) or meta.get("token_endpoint_auth_methods_supported") \
        or ["client_secret_basic"]
    return "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"


def issuer_mismatch(connector: Any, tokens: TokenSet) -> bool:
    """True when the stored ID token names another issuer than the connection now points at:
    a connection re-pointed at a different IdP must never receive the old IdP's tokens."""
    if getattr(connector, "strategy", None) != "oidc" or not tokens.id_token:
        return False
    try:
        claims = json.loads(b64url_decode(tokens.id_token.split(".")[1]))
    except (ValueError, IndexError, UnicodeDecodeError, RecursionError):
        return True
    return not isinstance(claims, dict) or claims.get("iss") != connector.options.expected_issuer


async def revoke_tokens(connector: Any, tokens: TokenSet) -> RevocationResult:
    custom = getattr(connector, "revoke_tokens", None)
    if custom is not None:
        result: RevocationResult = await custom(tokens)
        return result
    try:
        if issuer_mismatch(connector, tokens):
            return RevocationResult(False, "the connection now points at another issuer",
                                    unsupported=True, method="none")
        endpoint = await revocation_endpoint(connector)
    except (UpstreamError, ConfigurationError) as exc:
        return RevocationResult(False, f"revocation endpoint: {exc.detail or exc.description}")
    if endpoint is None:
        return RevocationResult(False, "the connection has no revocation endpoint",
                                method="none", unsupported=True)
    revoked: list[str] = []
    for kind, value in (("refresh_token", tokens.refresh_token),
                        ("access_token", tokens.access_token)):
        if not value:
            continue
        outcome = await revoke_one(connector, endpoint, kind, value)
        if outcome is not None:
            return outcome
        revoked.append(kind)
    return RevocationResult(True, "revoked" if revoked else "nothing to revoke", revoked=revoked)


async def revoke_one(connector: Any, endpoint: Endpoint, kind: str,
                     value: str) -> RevocationResult | None:
    """One RFC 7009 request for one token (``kind``: its ``token_type_hint``) with the
    connector's client credentials. None on success; otherwise why not. Provider connectors
    reuse it."""
    data = {"token": value, "token_type_hint": kind}
    auth = client_auth(endpoint.auth_method, connector.options.client_id,
                       connector.client_secret, data)
    timeout = connector.policy.timeout_s
    try:
        async with asyncio.timeout(timeout):
            response = await connector.http.post(endpoint.url, data=data, auth=auth,
                                                 timeout=timeout,
                                                 headers={"Accept": "application/json"})
    except (httpx.TimeoutException, TimeoutError):
        return RevocationResult(False, f"{kind}: timeout")
    except httpx.HTTPError as exc:
        return RevocationResult(False, f"{kind}: {type(exc).__name__}")
    status = response.status_code
    if 200 <= status < 300:
        return None
    if status >= 500 or status == 429:
        # RFC 7009 §2.2.1: 503 means "try again later", with Retry-After when given.
        return RevocationResult(False, f"{kind}: HTTP {status}",
                                retry_after_s=retry_after(response.headers.get("retry-after")))
    error = _error_code(response)
    if error == "unsupported_token_type":
        # RFC 7009 §2.2.1: the server cannot revoke this kind of token (many providers
        # cannot revoke access tokens); nothing more can be done for it.
        return None
    return RevocationResult(False, f"{kind}: HTTP {status} error={error!r}")


def _error_code(response: httpx.Response) -> str | None:
    if len(response.content) > 64 * 1024:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error[:64] if isinstance(error, str) else None
