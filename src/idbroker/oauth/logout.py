"""Logout: Auth0's GET /v2/logout and OpenID Connect RP-Initiated Logout (GET/POST
/oidc/logout). Both end the browser's login session first, whatever else the request says;
then they send the browser back only to a URL registered in a client's allowed logout URLs.
The HTTP layer clears the cookie. docs/sessions.md#logout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError

from idbroker.encoding import b64url_decode
from idbroker.errors import AuthorizeRequestError
from idbroker.oauth import sessions
from idbroker.runtime import Runtime

MAX_HINT_CHARS = 8192


async def end_session(rt: Runtime, cookie: str | None, *, client_id: str | None,
                      ip: str | None) -> None:
    ended = await sessions.end(rt, cookie)
    if ended is not None:
        await rt.store.audit("slo", description="Successful logout", user_id=ended.user_id,
                             client_id=client_id if client_id and len(client_id) <= 64 else None,
                             connection=ended.connection, ip=ip)


async def v2_logout_target(rt: Runtime, params: Mapping[str, str]) -> str | None:
    """Where /v2/logout sends the browser (None: our signed-out page). ``federated`` is
    accepted and changes nothing: the upstream IdP's own session is left alone."""
    return_to = params.get("returnTo")
    client_id = params.get("client_id")
    if return_to is None:
        return None
    if client_id:
        client = await rt.store.get_client(client_id) if len(client_id) <= 64 else None
        allowed = client.allowed_logout_urls if client else []
    else:
        allowed = [u for c in await rt.store.list_clients() for u in c.allowed_logout_urls]
    if return_to not in allowed:
        raise AuthorizeRequestError(
            "The returnTo URL is not in the application's allowed logout URLs.")
    return return_to


async def oidc_logout_target(rt: Runtime, params: Mapping[str, str]) -> str | None:
    """OIDC RP-Initiated Logout 1.0 §2-3: ``post_logout_redirect_uri`` must be one of the
    allowed logout URLs of the client named by ``client_id`` or by the ``id_token_hint``'s
    audience (which must agree); ``state`` is returned to it."""
    client_id = params.get("client_id") or None
    hint = params.get("id_token_hint")
    if hint:
        hinted = id_token_hint_client(rt, hint)
        if client_id is not None and client_id != hinted:
            raise AuthorizeRequestError("The id_token_hint was not issued to this client_id.")
        client_id = hinted
    target = params.get("post_logout_redirect_uri")
    if target is None:
        return None
    if client_id is None:
        raise AuthorizeRequestError(
            "post_logout_redirect_uri needs client_id or id_token_hint to name the application.")
    client = await rt.store.get_client(client_id) if len(client_id) <= 64 else None
    if client is None or target not in client.allowed_logout_urls:
        raise AuthorizeRequestError(
            "The post_logout_redirect_uri is not in the application's allowed logout URLs.")
    state = params.get("state")
    if state is None:
        return target
    return target + ("&" if "?" in target else "?") + urlencode({"state": state})


def id_token_hint_client(rt: Runtime, token: str) -> str:
    """The client an ID token we issued was for."""
    claims = id_token_hint_claims(rt, token)
    aud = claims.get("aud")
    audience = aud if isinstance(aud, str) else claims.get("azp")
    if not isinstance(audience, str):
        raise AuthorizeRequestError("The id_token_hint is not a valid ID token of this issuer.")
    return audience


def id_token_hint_claims(rt: Runtime, token: str) -> dict[str, Any]:
    """The claims of an ID token we issued. Expiry does not matter here (a hint often comes
    long after the token expired); signature, issuer and type do."""
    invalid = AuthorizeRequestError("The id_token_hint is not a valid ID token of this issuer.")
    if len(token) > MAX_HINT_CHARS or token.count(".") != 2:
        raise invalid
    try:
        header = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise invalid from exc
    if not isinstance(header, dict) or header.get("alg") != "RS256" \
            or header.get("typ") not in (None, "JWT") or not isinstance(header.get("kid"), str):
        raise invalid
    key = rt.keys.by_kid.get(header["kid"])
    if key is None:
        raise invalid
    try:
        claims = jwt.decode(token, key, algorithms=["RS256"]).claims
    except (JoseError, ValueError, RecursionError) as exc:
        raise invalid from exc
    if claims.get("iss") != rt.settings.issuer or not isinstance(claims.get("sub"), str):
        raise invalid
    return dict(claims)
