"""Who is calling the Management API, and with which scopes.

The token must come in the Authorization header (RFC 6750 §2.1); a token in the query string
is refused outright because it ends up in logs and browser history.
"""

from __future__ import annotations

import re

from idbroker.errors import BadRequest, Forbidden, InvalidToken, Unauthorized
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

# RFC 6750 §2.1 b64token. The auth-scheme is case-insensitive (RFC 7235 §2.1: "bearer" is as
# good as "Bearer") and compared on its own: one IGNORECASE pattern over the whole header cost
# 25 µs per request on a 900-character token, this costs 4.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 7235 §2.1: auth-scheme = token (RFC 7230 §3.2.6 tchar).
_SCHEME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]*")
# Set only by the client_credentials grant (oauth/grants/client_credentials.py).
_CLIENT_CREDENTIALS_GTY = "client-credentials"


def authenticate(rt: Runtime, authorization: str | None,
                 query_has_token: bool) -> VerifiedAccessToken:
    if query_has_token:
        raise BadRequest("Tokens must be sent in the Authorization header",
                         error_code="invalid_request")
    scheme = _SCHEME.match(authorization or "")
    if scheme is None or scheme.group(0).lower() != "bearer":
        # RFC 6750 §3.1: a request without bearer credentials — no header, an empty one, or
        # another scheme such as Basic ("attempted using an unsupported authentication
        # method") — gets a challenge with no error attribute. Before, anything but a
        # missing header was answered error="invalid_token".
        raise Unauthorized("Missing authentication", bearer_error=None)
    token_value = bearer_token(authorization)
    if token_value is None:
        # Same public message as every other token failure (ASVS 16.5.1, security_tests.md
        # A2: "same generic body for all"), so the body does not say which check failed; the
        # reason goes to the log only. (fullmatch, not match+$: "$" also accepts a trailing
        # newline.)
        raise Unauthorized("Invalid token", detail="malformed Authorization header")
    try:
        token = rt.issuer.verify_access_token(
            token_value, frozenset({rt.settings.management_audience}))
    except InvalidToken as exc:
        raise Unauthorized("Invalid token", detail=exc.detail) from exc
    if token.claims.get("gty") != _CLIENT_CREDENTIALS_GTY:
        # Management API permissions come from a client grant, i.e. only client-credentials
        # tokens carry them. A person's access token may name this audience, and /authorize
        # used to copy whatever scope string the person asked for into it, so any end user
        # could mint "read:users read:user_idp_tokens create:clients …" and read every
        # user's upstream tokens. oauth/authorize.py now drops non-OIDC scopes; this check
        # enforces the rule where the permission is used (ASVS 8.3.1), and also covers
        # refresh tokens minted before that fix, which keep their stored scope. Auth0's
        # per-user "current_user" scopes are not implemented, so a person's token holds no
        # Management API scope at all: 403 everywhere.
        return VerifiedAccessToken(claims=token.claims, scopes=frozenset())
    return token


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Bearer <b64token>`` (exactly one space; fullmatch, so no trailing
    newline either), else None."""
    if authorization is None or authorization[:7].lower() != "bearer ":
        return None
    return authorization[7:] if _B64TOKEN.fullmatch(authorization, 7) else None


def require(token: VerifiedAccessToken, *any_of: str) -> None:
    if not token.scopes & set(any_of):
        raise Forbidden(f"Insufficient scope, expected any of: {','.join(any_of)}")
