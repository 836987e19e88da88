"""Turning upstream claims into Auth0's normalized profile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idbroker.vault.records import UpstreamProfile

# Claims that describe the token, not the person: never copied into a profile.
PROTOCOL_CLAIMS = frozenset({
    "iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "azp", "auth_time", "sid",
    "amr", "acr", "jti", "sub", "s_hash", "typ",
})
ROOT_FIELDS = ("email", "name", "given_name", "family_name", "nickname", "picture")
MAX_EXTRA_CLAIMS = 50


def _text(value: Any, limit: int = 300) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def is_true(value: Any) -> bool:
    """Only an explicit true counts as verified; some IdPs send the string "true"."""
    return value is True or value == "true"


def profile_from_claims(claims: Mapping[str, Any]) -> UpstreamProfile:
    email = _text(claims.get("email"), 320)
    nickname = _text(claims.get("nickname")) or _text(claims.get("preferred_username"))
    if nickname is None and email:
        nickname = email.split("@", 1)[0]
    # Auth0 always fills name and nickname; fall back to the subject when nothing else exists.
    nickname = nickname or _text(claims.get("sub"))
    name = _text(claims.get("name")) or email or nickname
    return UpstreamProfile(
        email=email,
        email_verified=bool(email) and is_true(claims.get("email_verified")),
        name=name,
        given_name=_text(claims.get("given_name"), 150),
        family_name=_text(claims.get("family_name"), 150),
        nickname=nickname,
        picture=_text(claims.get("picture"), 2048),
        username=_text(claims.get("preferred_username"), 128),
        extra=_extra(claims),
    )


def _extra(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Scalar claims beyond the root fields (locale, hd, ...), bounded in number and size."""
    skip = PROTOCOL_CLAIMS | set(ROOT_FIELDS) | {"email_verified", "preferred_username"}
    extra: dict[str, Any] = {}
    for key, value in claims.items():
        if key in skip or len(key) > 64:
            continue
        if isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= 2048):
            extra[key] = value
        if len(extra) >= MAX_EXTRA_CLAIMS:
            break
    return extra
