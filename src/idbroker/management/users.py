"""GET /api/v2/users/{id}: Auth0's normalized user, with IdP tokens only for callers that hold
``read:user_idp_tokens`` — and every such read recorded in the audit log."""

from __future__ import annotations

import logging
from typing import Any

from idbroker.clock import iso_ms, now_s
from idbroker.errors import BadRequest, NotFound, VaultError
from idbroker.management.auth import require
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime
from idbroker.vault.records import Identity, User

log = logging.getLogger(__name__)

IDP_TOKENS_SCOPE = "read:user_idp_tokens"
TOKEN_KEYS = ("access_token", "access_token_secret", "refresh_token", "expires_in")
MAX_FIELDS = 50


def parse_fields(fields: str | None, include_fields: str | None) -> tuple[set[str] | None, bool]:
    include = True
    if include_fields is not None:
        if include_fields not in ("true", "false"):
            raise BadRequest("include_fields must be true or false", error_code="invalid_query_string")
        include = include_fields == "true"
    if not fields:
        return None, include
    names = {f.strip() for f in fields.split(",") if f.strip()}
    if len(names) > MAX_FIELDS:
        raise BadRequest("too many fields", error_code="invalid_query_string")
    return names, include


def _identity(identity: Identity, *, secondary: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "provider": identity.provider, "user_id": identity.idp_user_id,
        "connection": identity.connection, "isSocial": identity.is_social,
    }
    if secondary:
        item["profileData"] = identity.profile_data
    return item


def render_user(user: User) -> dict[str, Any]:
    body: dict[str, Any] = {**user.extra}
    body.update({
        "user_id": user.user_id, "email": user.email, "email_verified": user.email_verified,
        "username": user.username, "name": user.name, "given_name": user.given_name,
        "family_name": user.family_name, "nickname": user.nickname, "picture": user.picture,
        "created_at": iso_ms(user.created_at), "updated_at": iso_ms(user.updated_at),
        "last_login": iso_ms(user.last_login), "last_ip": user.last_ip,
        "logins_count": user.logins_count, "blocked": user.blocked,
        "identities": [_identity(i, secondary=n > 0) for n, i in enumerate(user.identities)],
        "app_metadata": user.app_metadata, "user_metadata": user.user_metadata,
    })
    return {k: v for k, v in body.items() if v is not None}


async def get_user(rt: Runtime, caller: VerifiedAccessToken, user_id: str, *,
                   fields: str | None, include_fields: str | None,
                   ip: str | None) -> dict[str, Any]:
    require(caller, "read:users")
    selected, include = parse_fields(fields, include_fields)
    user = await rt.store.get_user(user_id)
    if user is None:
        raise NotFound("The user does not exist.", error_code="inexistent_user")
    body = render_user(user)
    wants_identities = selected is None or ("identities" in selected) == include
    if IDP_TOKENS_SCOPE in caller.scopes and wants_identities:
        read = _attach_tokens(rt, user, body["identities"])
        if read:
            await rt.store.audit(
                "mgmt_api_read", description="IdP tokens read through the Management API",
                client_id=caller.claims.get("azp"), user_id=user.user_id, ip=ip,
                details={"connections": read, "caller": caller.subject})
    if selected is not None:
        body = {k: v for k, v in body.items() if (k in selected) == include}
    return body


def _attach_tokens(rt: Runtime, user: User, items: list[dict[str, Any]]) -> list[str]:
    read: list[str] = []
    for identity, item in zip(user.identities, items, strict=True):
        try:
            tokens = rt.store.open_tokens(identity)
        except VaultError as exc:
            # A row that does not open (wrong key, tampering, a ciphertext moved from another
            # row) is served without tokens; it never falls back to anything else.
            log.error("identity %s: sealed tokens do not open (%s)", identity.id, exc.detail)
            item["token_status"] = "unreadable"
            continue
        if tokens is None:
            continue
        if tokens.access_token:
            item["access_token"] = tokens.access_token
        if tokens.access_token_secret:
            item["access_token_secret"] = tokens.access_token_secret
        if tokens.refresh_token:
            item["refresh_token"] = tokens.refresh_token
        if tokens.expires_at is not None:
            item["expires_in"] = max(0, tokens.expires_at - now_s())
        read.append(identity.connection)
    return read
