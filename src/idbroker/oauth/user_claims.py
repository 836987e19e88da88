"""OpenID Connect standard claims of a user, released by scope (OIDC Core §5.4)."""

from __future__ import annotations

from typing import Any

from idbroker.clock import iso_ms
from idbroker.vault.records import User

PROFILE_CLAIMS = ("name", "given_name", "family_name", "nickname", "picture")


def claims_for(user: User, scope: list[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    if "profile" in scope:
        for name in PROFILE_CLAIMS:
            value = getattr(user, name)
            if value is not None:
                claims[name] = value
        if user.extra.get("locale"):
            claims["locale"] = user.extra["locale"]
        claims["updated_at"] = iso_ms(user.updated_at)
    if "email" in scope and user.email:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims
