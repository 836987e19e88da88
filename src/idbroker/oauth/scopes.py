"""Scope strings (RFC 6749 §3.3): space-delimited, case-sensitive, exact membership."""

from __future__ import annotations

import re

from idbroker.errors import InvalidScope

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
MAX_SCOPES = 100

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")

MANAGEMENT_SCOPES = (
    "read:users", "update:users", "delete:users", "create:users", "read:user_idp_tokens",
    "update:current_user_identities",
    "delete:user_idp_tokens",
    "read:clients", "create:clients", "update:clients", "delete:clients",
    "read:client_keys",
    "read:connections", "create:connections", "update:connections", "delete:connections",
    "read:client_grants", "create:client_grants", "update:client_grants", "delete:client_grants",
    "read:logs", "read:logs_users",
    "read:resource_servers", "create:resource_servers", "update:resource_servers",
    "delete:resource_servers",
    "read:signing_keys", "create:signing_keys", "update:signing_keys",
    "read:event_endpoints", "create:event_endpoints", "update:event_endpoints",
    "delete:event_endpoints",
)


def parse(value: str | None) -> list[str]:
    """Split a scope parameter, keeping order and dropping duplicates."""
    if not value:
        return []
    tokens = value.split(" ")
    if len(tokens) > MAX_SCOPES:
        raise InvalidScope("too many scopes")
    result: list[str] = []
    for token in tokens:
        if token == "":
            continue
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope("scope contains invalid characters")
        if token not in result:
            result.append(token)
    return result


def parse_claim(value: object) -> frozenset[str]:
    """The ``scope`` claim of one of our tokens. Anything but a string grants nothing."""
    if not isinstance(value, str):
        return frozenset()
    return frozenset(token for token in value.split(" ") if token)


def join(scopes: list[str]) -> str:
    return " ".join(scopes)
