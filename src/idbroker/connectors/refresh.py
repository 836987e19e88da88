"""``grant_type=refresh_token`` against an ``oidc`` or ``oauth2`` upstream (RFC 6749 §6).

One attempt per call; the caller (lifecycle/refresh.py) owns retries, single-flight and
storage. Failures are typed so the caller can tell a dead grant (``invalid_grant``:
:class:`UpstreamTokenRejected`) from a passing one (:class:`UpstreamRetryLater`, carrying the
upstream's ``Retry-After``) from a response we cannot trust (:class:`UpstreamProtocolError`).
Nothing here logs or raises with a token in it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError

from idbroker.clock import now_s
from idbroker.connectors.oauth2 import OAuth2Connector
from idbroker.connectors.oidc import ID_TOKEN_LEEWAY_S, OIDCConnector, token_set
from idbroker.connectors.upstream_http import MAX_BODY_BYTES, client_auth, retry_after
from idbroker.errors import (
    UpstreamDenied, UpstreamProtocolError, UpstreamTokenRejected, UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet



class UpstreamRetryLater(UpstreamUnavailable):
    """5xx, 429, timeout or network failure: the grant may still be good."""

    def __init__(self, *, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail=detail)
        self.retry_after_s = retry_after_s


class RefreshUnsupported(UpstreamProtocolError):
    description = "This connection cannot refresh tokens."


@dataclass(frozen=True, slots=True)
class RefreshTarget:
    token_endpoint: str
    auth_method: str
    client_id: str
    client_secret: str | None


def renews_with_access_token(strategy: str) -> bool:
    """Whether this strategy renews a token without a refresh token (Facebook)."""
    from idbroker.connectors.registry import STRATEGIES  # late: the registry imports us

    return bool(getattr(STRATEGIES.get(strategy), "renews_with_access_token", False))


def supports_refresh(connector: Any) -> bool:
    return hasattr(connector, "refresh_tokens") or isinstance(
        connector, (OIDCConnector, OAuth2Connector))


async def _target(connector: Any) -> RefreshTarget:
    if isinstance(connector, OIDCConnector):
        meta = await connector.metadata()
        return RefreshTarget(meta["token_endpoint"], connector._auth_method(meta),
                             connector.options.client_id, connector.client_secret)
    if isinstance(connector, OAuth2Connector):
        return RefreshTarget(connector.options.tokenURL,
                             connector.options.token_endpoint_auth_method,
                             connector.options.client_id, connector.client_secret)
    raise RefreshUnsupported(detail=f"refresh: strategy {getattr(connector, 'strategy', '?')}")


async def refresh(connector: Any, refresh_token: str | None, *, subject: str,
                  timeout: float, access_token: str | None = None) -> TokenSet:
    """One refresh attempt. Returns the upstream's token set as sent (``refresh_token`` None
    when it sent none; ``expires_at`` None without ``expires_in``; ``scope`` empty without
    ``scope``); :func:`merge` completes it from the previous set. A connector with its own
    ``refresh_tokens`` (connectors/providers/) renews its way, e.g. Facebook's token
    exchange, which needs the access token instead of a refresh token."""
    custom = getattr(connector, "refresh_tokens", None)
    if custom is not None:
        fresh: TokenSet = await custom(refresh_token, access_token=access_token,
                                       subject=subject, timeout=timeout)
        return fresh
    if not refresh_token:
        raise RefreshUnsupported(detail="refresh: no refresh token")
    target = await _target(connector)
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    auth = client_auth(target.auth_method, target.client_id, target.client_secret, data)
    body = await post_token_request(connector.http, target.token_endpoint, data, auth, timeout)
    tokens = token_set(body)
    if isinstance(connector, OIDCConnector) and tokens.id_token:
        await _check_id_token(connector, tokens.id_token, subject)
    elif not isinstance(connector, OIDCConnector):
        tokens.id_token = None  # an oauth2 upstream's id_token is never validated, so not kept
    return tokens


def merge(previous: TokenSet, fresh: TokenSet, *, now: int, assumed_lifetime_s: int) -> TokenSet:
    """The token set to store after a refresh: a rotated refresh token replaces the old one, a
    missing one keeps it (Nango #298, allauth); scopes and ID token likewise."""
    return TokenSet(
        access_token=fresh.access_token,
        refresh_token=fresh.refresh_token or previous.refresh_token,
        id_token=fresh.id_token or previous.id_token,
        access_token_secret=None,
        token_type=fresh.token_type or previous.token_type,
        # Without expires_in the token is still refreshed, after an assumed lifetime.
        expires_at=fresh.expires_at or now + assumed_lifetime_s,
        scope=fresh.scope or list(previous.scope),
    )


async def post_token_request(http: httpx.AsyncClient, url: str, data: dict[str, str],
                             auth: httpx.Auth | None, timeout: float) -> dict[str, Any]:
    """One POST to an RFC 6749 token endpoint; the JSON object on success. Failures are typed
    as refresh failures (UpstreamRetryLater, UpstreamTokenRejected for ``invalid_grant``,
    UpstreamDenied, UpstreamProtocolError). Provider connectors reuse it."""
    if timeout <= 0:
        raise UpstreamRetryLater(detail="refresh: no time left")
    try:
        async with asyncio.timeout(timeout):
            response = await http.post(url, data=data, auth=auth, timeout=timeout,
                                       headers={"Accept": "application/json"})
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise UpstreamRetryLater(detail="refresh: timeout") from exc
    except httpx.HTTPError as exc:
        raise UpstreamRetryLater(detail=f"refresh: {type(exc).__name__}") from exc
    status = response.status_code
    if status >= 500 or status == 429:
        raise UpstreamRetryLater(detail=f"refresh: HTTP {status}",
                                 retry_after_s=retry_after(response.headers.get("retry-after")))
    if len(response.content) > MAX_BODY_BYTES:
        raise UpstreamProtocolError(detail="refresh: response too large")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamProtocolError(detail=f"refresh: HTTP {status}, not a JSON object")
    if status >= 400:
        error = body.get("error")
        if error == "invalid_grant":
            raise UpstreamTokenRejected(detail="refresh: invalid_grant")
        if error in ("invalid_client", "unauthorized_client", "access_denied"):
            raise UpstreamDenied(detail=f"refresh: {error}")
        raise UpstreamProtocolError(detail=f"refresh: HTTP {status} error={str(error)[:64]!r}")
    return body


async def _check_id_token(connector: OIDCConnector, token: str, subject: str) -> None:
    """OIDC Core §12.2: a refreshed ID token must be signed by the same issuer, for us, about
    the same subject (attack list E11). Its nonce, if any, is not checked: §12.2 only says it
    SHOULD be absent, and some providers repeat the original one."""
    meta = await connector.metadata()
    allowed = connector.options.id_token_signed_response_algs
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError) as exc:
        raise UpstreamProtocolError(detail="refresh id_token: not a compact JWS") from exc
    if header.get("alg") not in allowed or "crit" in header:
        raise UpstreamProtocolError(detail="refresh id_token: alg not allowed")
    jwks = connector._jwks
    assert jwks is not None  # metadata() has set it
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    key = await jwks.key_for(connector.http, kid)
    try:
        claims = jwt.decode(token, key, algorithms=allowed).claims
    except (JoseError, ValueError) as exc:
        raise UpstreamProtocolError(detail="refresh id_token: bad signature") from exc
    client_id = connector.options.client_id
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    exp = claims.get("exp")
    problems = [
        (claims.get("iss") != meta["issuer"], "iss mismatch"),
        (claims.get("sub") != subject, "sub differs from the identity"),
        (client_id not in audiences, "aud mismatch"),
        ("azp" in claims and claims["azp"] != client_id, "azp mismatch"),
        (not isinstance(exp, (int, float)) or isinstance(exp, bool)
         or exp + ID_TOKEN_LEEWAY_S < now_s(), "expired"),
    ]
    for failed, what in problems:
        if failed:
            raise UpstreamProtocolError(detail=f"refresh id_token: {what}")
