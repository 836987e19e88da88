"""Reading users: ``GET /api/v2/users/{id}`` (Auth0's normalized user, with IdP tokens only for
callers that hold ``read:user_idp_tokens`` — and every such read recorded in the audit log), and
the list/search and by-email reads, which never carry IdP tokens, whatever the caller's scopes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from idbroker.clock import iso_ms, now_s
from idbroker.connectors.providers import identity_user_id
from idbroker.errors import BadRequest, NotFound, VaultError
from idbroker.management import user_search
from idbroker.lifecycle.refresh import Actor, Outcome, token_state, tokens_for_read
from idbroker.management.auth import require
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime
from idbroker.vault import user_queries
from idbroker.vault.records import Identity, User

log = logging.getLogger(__name__)

IDP_TOKENS_SCOPE = "read:user_idp_tokens"
TOKEN_KEYS = ("access_token", "access_token_secret", "refresh_token", "expires_in")
MAX_FIELDS = 50
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50
MAX_PAGE = 100_000


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


def checked_user_id(user_id: str) -> str:
    """A path user_id that cannot name a stored user (NUL, which PostgreSQL refuses in text,
    or longer than the column) is simply not found."""
    if not user_id or len(user_id) > 300 or "\x00" in user_id:
        raise NotFound("The user does not exist.", error_code="inexistent_user")
    return user_id


def select_fields(body: dict[str, Any], selected: set[str] | None,
                  include: bool) -> dict[str, Any]:
    if selected is None:
        return body
    return {k: v for k, v in body.items() if (k in selected) == include}


def _identity(identity: Identity, *, secondary: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "provider": identity.provider,
        "user_id": identity_user_id(identity.provider, identity.idp_user_id),
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
    user = await rt.store.get_user(checked_user_id(user_id))
    if user is None:
        raise NotFound("The user does not exist.", error_code="inexistent_user")
    body = render_user(user)
    for identity, item in zip(user.identities, body["identities"], strict=True):
        item.update(token_state(identity))  # scopes, token_status: docs/token-refresh.md
    wants_identities = selected is None or ("identities" in selected) == include
    if IDP_TOKENS_SCOPE in caller.scopes and wants_identities:
        read = await _attach_tokens(rt, user, body["identities"], Actor(
            client_id=caller.claims.get("azp"), ip=ip, via="management_api"))
        if read:
            await rt.store.audit(
                "mgmt_api_read", description="IdP tokens read through the Management API",
                client_id=caller.claims.get("azp"), user_id=user.user_id, ip=ip,
                details={"connections": read, "caller": caller.subject})
    return select_fields(body, selected, include)


def _number(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}",
                         error_code="invalid_query_string")
    return int(raw)


def _flag(raw: str | None, name: str, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false", error_code="invalid_query_string")
    return raw.lower() == "true"


async def list_users(rt: Runtime, caller: VerifiedAccessToken,
                     params: dict[str, str]) -> Any:
    """GET /api/v2/users. No IdP token is ever attached here, not even for a caller holding
    ``read:user_idp_tokens`` (only the single-user read serves them, and audits it)."""
    require(caller, "read:users")
    per_page = _number(params.get("per_page"), "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    number = _number(params.get("page"), "page", 0, 0, MAX_PAGE)
    include_totals = _flag(params.get("include_totals"), "include_totals", False)
    selected, include = parse_fields(params.get("fields"), params.get("include_fields"))
    user_search.parse_search_engine(params.get("search_engine"))
    query = user_search.parse_query(params.get("q"))
    sort = user_search.parse_sort(params.get("sort"))
    connection = params.get("connection")
    if connection and (len(connection) > 128 or "\x00" in connection):
        raise BadRequest("connection must be a connection name", error_code="invalid_query_string")
    extra = (user_queries.Term("identities.connection", connection)
             if connection else None)
    found = await user_queries.search_users(
        rt.store, query, extra=extra, sort=sort, offset=number * per_page, limit=per_page,
        with_total=include_totals)
    users = [select_fields(render_user(u), selected, include) for u in found.users]
    if not include_totals:
        return users
    return {"start": number * per_page, "limit": per_page, "length": len(users),
            "total": found.total, "users": users}


async def users_by_email(rt: Runtime, caller: VerifiedAccessToken,
                         params: dict[str, str]) -> list[dict[str, Any]]:
    """GET /api/v2/users-by-email: a bare array, matched case-insensitively; no IdP tokens."""
    require(caller, "read:users")
    email = params.get("email")
    if not email or len(email) > 320 or "\x00" in email:
        raise BadRequest("email is required (at most 320 characters)",
                         error_code="invalid_query_string")
    selected, include = parse_fields(params.get("fields"), params.get("include_fields"))
    found = await user_queries.users_by_email(rt.store, email)
    return [select_fields(render_user(u), selected, include) for u in found]


async def _attach_tokens(rt: Runtime, user: User, items: list[dict[str, Any]],
                         actor: Actor) -> list[str]:
    # Stale tokens are refreshed upstream first (single-flight per identity, all identities
    # at once); a dead or failing grant is served without token fields, with its token_status.
    if len(user.identities) == 1:  # the common case: no task per identity
        outcomes = [await _read_tokens(rt, user.identities[0], actor)]
    else:
        outcomes = await asyncio.gather(*(_read_tokens(rt, i, actor) for i in user.identities))
    read: list[str] = []
    for identity, item, outcome in zip(user.identities, items, outcomes, strict=True):
        if outcome.status:
            item["token_status"] = outcome.status
        tokens = outcome.tokens
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


async def _read_tokens(rt: Runtime, identity: Identity, actor: Actor) -> Outcome:
    try:
        return await tokens_for_read(rt, identity, actor=actor)
    except VaultError as exc:
        # A row that does not open (wrong key, tampering, a ciphertext moved from another
        # row) is served without tokens; it never falls back to anything else.
        log.error("identity %s: sealed tokens do not open (%s)", identity.id, exc.detail)
        return Outcome(None, "unreadable")
