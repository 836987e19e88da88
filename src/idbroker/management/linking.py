"""Account linking: POST and DELETE /api/v2/users/{id}/identities[/{provider}/{user_id}].

Linking moves the secondary user's identity row to the primary and deletes the secondary user;
unlinking re-creates that user (with no metadata, as Auth0 does) and gives the row back. The
row keeps its id, so its sealed IdP tokens move with it without being opened
(vault/linking_store.py). Linking is idempotent: the auth0-python v6 client retries on 409, so
re-linking an identity that already belongs to the same primary answers 201 with the same array.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from idbroker.clock import now_s
from idbroker.encoding import b64url_decode
from idbroker.errors import BadRequest, Forbidden, NotFound
from idbroker.lifecycle import revocation
from idbroker.lifecycle.outbox import IDENTITY_LINKED, IDENTITY_UNLINKED, emit_event
from idbroker.json_values import has_nul
from idbroker.management.users import checked_user_id, render_user
from idbroker.management.validation import parse
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime
from idbroker.vault import linking_store, user_writes
from idbroker.vault.records import Identity, User

UPDATE_USERS = "update:users"
CURRENT_USER_IDENTITIES = "update:current_user_identities"
MAX_ID_TOKEN_BYTES = 8192
_LEEWAY_S = 5


class LinkBody(BaseModel):
    """Either ``provider`` + ``user_id`` (+ ``connection_id``), or ``link_with``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    provider: str | None = Field(default=None, min_length=1, max_length=64)
    user_id: str | int | None = Field(default=None, description="with or without 'provider|'")
    connection_id: str | None = Field(default=None, min_length=1, max_length=40)
    link_with: str | None = Field(default=None, min_length=1, max_length=MAX_ID_TOKEN_BYTES,
                                  description="an ID token idbroker issued for the secondary")

    @model_validator(mode="after")
    def _one_form(self) -> LinkBody:
        if self.link_with is not None:
            if self.provider is not None or self.user_id is not None:
                raise ValueError("link_with excludes provider and user_id")
        elif self.provider is None or self.user_id is None or self.user_id == "":
            raise ValueError("give provider and user_id, or link_with")
        if isinstance(self.user_id, str) and len(self.user_id) > 300:
            raise ValueError("user_id is too long")
        if any(has_nul(v) for v in (self.provider, self.user_id, self.connection_id,
                                    self.link_with)):
            raise ValueError("values must not contain NUL characters")
        return self


def _authorize(caller: VerifiedAccessToken, primary_id: str) -> None:
    """update:users acts on anyone; update:current_user_identities only on the caller itself."""
    if UPDATE_USERS in caller.scopes:
        return
    if CURRENT_USER_IDENTITIES in caller.scopes and caller.subject == primary_id:
        return
    raise Forbidden(f"Insufficient scope, expected any of: {UPDATE_USERS}")


def _user_not_found(what: str = "user") -> NotFound:
    return NotFound(f"The {what} does not exist.", error_code="inexistent_user")


def _candidates(provider: str, user_id: str) -> list[str]:
    """identities[].user_id values meant by ``user_id``, which may carry the provider prefix."""
    found = [user_id]
    if user_id.startswith(f"{provider}|"):
        found.append(user_id[len(provider) + 1:])
    return found


def verify_link_with(rt: Runtime, token: str, audience: str | None) -> str:
    """The ``sub`` of an ID token idbroker issued (RS256, one of our keys, our issuer, not
    expired) for ``audience`` (the caller's azp). Anything else is one generic 400."""
    invalid = BadRequest("Payload validation error: link_with is not a valid ID token "
                         "(at link_with)", error_code="invalid_body")
    if audience is None or token.count(".") != 2:
        raise invalid
    try:
        header = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise invalid from exc
    if (not isinstance(header, dict) or set(header) - {"alg", "typ", "kid"}
            or header.get("alg") != "RS256" or header.get("typ", "JWT") != "JWT"):
        raise invalid
    kid = header.get("kid")
    key = rt.keys.by_kid.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise invalid
    try:
        claims = jwt.decode(token, key, algorithms=["RS256"]).claims
    except (JoseError, ValueError, RecursionError) as exc:
        raise invalid from exc
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    exp, sub = claims.get("exp"), claims.get("sub")
    if (claims.get("iss") != rt.issuer.issuer or audience not in audiences
            or not isinstance(exp, int) or exp + _LEEWAY_S < now_s()
            or not isinstance(sub, str) or "|" not in sub):
        raise invalid
    return sub


def _identities(user: User) -> list[dict[str, Any]]:
    identities: list[dict[str, Any]] = render_user(user)["identities"]
    return identities


async def link(rt: Runtime, caller: VerifiedAccessToken, primary_id: str,
               body: Any) -> list[dict[str, Any]]:
    _authorize(caller, primary_id)
    checked_user_id(primary_id)
    data = parse(LinkBody, body)
    if data.link_with is not None:
        sub = verify_link_with(rt, data.link_with, caller.claims.get("azp"))
        provider, _, idp_user_id = sub.partition("|")
        candidates, connection_id = [idp_user_id], None
    else:
        assert data.provider is not None and data.user_id is not None
        provider = data.provider
        candidates, connection_id = _candidates(provider, str(data.user_id)), data.connection_id
    if any(f"{provider}|{c}" == primary_id for c in candidates):
        raise BadRequest("Main identity and the new one are the same.",
                         error_code="invalid_body")
    async with rt.store.engine.begin() as conn:
        found = await linking_store.find_identities(conn, provider, candidates, connection_id)
        # Both users are locked, in one global order (two crossed links cannot deadlock on
        # PostgreSQL), then the identity is read again under the locks.
        for user_id in sorted({primary_id, *(i.user_id for i in found[:1])}):
            if not await user_writes.lock_user(conn, user_id) and user_id == primary_id:
                raise _user_not_found()
        found = await linking_store.find_identities(conn, provider, candidates, connection_id)
        if not found:
            raise _user_not_found("secondary user")
        if len(found) > 1:
            raise BadRequest("Several identities match; give connection_id",
                             error_code="invalid_body")
        identity = found[0]
        if identity.user_id != primary_id:
            await _take(conn, identity, primary_id)
    user = await rt.store.get_user(primary_id)
    if user is None:
        raise _user_not_found()
    return _identities(user)


async def _take(conn: Any, identity: Identity, primary_id: str) -> None:
    owner = identity.user_id
    if owner != f"{identity.provider}|{identity.idp_user_id}":
        raise BadRequest("The identity is already linked to another user; unlink it first",
                         error_code="invalid_body")
    await user_writes.lock_user(conn, owner)
    if await linking_store.identity_count(conn, owner) > 1:
        raise BadRequest("The secondary user has linked identities; unlink them first",
                         error_code="invalid_body")
    await linking_store.move_identity(conn, identity.id, primary_id)
    # The secondary account stops existing: so do the broker sessions issued to it.
    await user_writes.revoke_user_grants(conn, owner)
    await user_writes.delete_user_rows(conn, owner)
    await emit_event(conn, IDENTITY_LINKED, {
        "user_id": primary_id, "secondary_user_id": owner, "provider": identity.provider,
        "identity_user_id": identity.idp_user_id, "connection": identity.connection})


async def unlink(rt: Runtime, caller: VerifiedAccessToken, primary_id: str, provider: str,
                 secondary_user_id: str) -> list[dict[str, Any]]:
    _authorize(caller, primary_id)
    checked_user_id(primary_id)
    if has_nul(provider) or has_nul(secondary_user_id) or len(secondary_user_id) > 300:
        raise NotFound("The identity is not linked to this user.",
                       error_code="inexistent_identity")
    async with rt.store.engine.begin() as conn:
        if not await user_writes.lock_user(conn, primary_id):
            raise _user_not_found()
        found = [i for i in await linking_store.find_identities(
            conn, provider, _candidates(provider, secondary_user_id), None)
            if i.user_id == primary_id]
        if not found:
            raise NotFound("The identity is not linked to this user.",
                           error_code="inexistent_identity")
        identity = found[0]
        if f"{identity.provider}|{identity.idp_user_id}" == primary_id:
            raise BadRequest("The main identity cannot be unlinked.",
                             error_code="invalid_body")
        # Unlinking revokes the IdP tokens upstream: queued in this transaction, and
        # cleared here so the standalone user never serves them (lifecycle/revocation.py).
        revocation_id = await revocation.enqueue_and_clear(
            conn, rt.store.vault, identity, "unlink")
        standalone = await linking_store.create_standalone_user(conn, identity)
        await linking_store.move_identity(conn, identity.id, standalone)
        await emit_event(conn, IDENTITY_UNLINKED, {
            "user_id": primary_id, "secondary_user_id": standalone,
            "provider": identity.provider, "identity_user_id": identity.idp_user_id,
            "connection": identity.connection})
    if revocation_id:
        revocation.kick(rt, revocation_id)
    user = await rt.store.get_user(primary_id)
    if user is None:
        raise _user_not_found()
    return _identities(user)
