"""Who is calling the Management API, and with which scopes.

The token must come in the Authorization header (RFC 6750 §2.1); a token in the query string
is refused outright because it ends up in logs and browser history.
"""

from __future__ import annotations

import re

from idbroker.errors import BadRequest, Forbidden, InvalidToken, Unauthorized
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

_BEARER = re.compile(r"^Bearer ([A-Za-z0-9\-._~+/]+=*)$")


def authenticate(rt: Runtime, authorization: str | None,
                 query_has_token: bool) -> VerifiedAccessToken:
    if query_has_token:
        raise BadRequest("Tokens must be sent in the Authorization header",
                         error_code="invalid_request")
    if authorization is None:
        raise Unauthorized("Missing authentication", bearer_error=None)
    match = _BEARER.match(authorization)
    if match is None:
        raise Unauthorized("Bad HTTP authentication header format")
    try:
        return rt.issuer.verify_access_token(
            match.group(1), frozenset({rt.settings.management_audience}))
    except InvalidToken as exc:
        raise Unauthorized("Invalid token", detail=exc.detail) from exc


def require(token: VerifiedAccessToken, *any_of: str) -> None:
    if not token.scopes & set(any_of):
        raise Forbidden(f"Insufficient scope, expected any of: {','.join(any_of)}")
