"""PKCE (RFC 7636), S256 only: ``plain`` gives no protection against a leaked code."""

from __future__ import annotations

import hmac
import re
import secrets

from idbroker.encoding import s256
from idbroker.errors import InvalidGrant, InvalidRequest

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def check_challenge(challenge: str | None, method: str | None) -> None:
    """Validate an /authorize challenge; raises InvalidRequest (redirected to the client)."""
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method given without code_challenge")
        return
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    # fullmatch, not match: "$" also matches before a trailing newline.
    if not _S256_CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be 43 characters of base64url")


def verify(challenge: str | None, verifier: str | None) -> None:
    """Check a token request's verifier against the code's challenge (already consumed)."""
    if challenge is None:
        if verifier is not None:
            # A verifier for a code issued without a challenge is a downgrade attempt.
            raise InvalidGrant("code_verifier sent for a code issued without PKCE")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required")
    if not _VERIFIER.fullmatch(verifier):  # RFC 7636 §4.1 ABNF; no trailing newline
        raise InvalidRequest("code_verifier must be 43 to 128 unreserved characters")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
