"""``/api/v2/user-blocks``: the brute-force blocks on database-connection identifiers
(docs/database-connections.md#brute-force-protection). Auth0's shape:
``{"blocked_for": [{"identifier", "ip", "connection"}]}``; deleting lifts the blocks (and the
failure counts) of the identifier from every address."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from idbroker.clock import now_ms
from idbroker.dbconn import STRATEGY, bruteforce
from idbroker.dbconn.accounts import MAX_IDENTIFIER_CHARS, normalise
from idbroker.errors import BadRequest, NotFound
from idbroker.management.users import checked_user_id
from idbroker.runtime import Runtime
from idbroker.vault import password_store


class BlockedFor(BaseModel):
    identifier: str
    ip: str
    connection: str


class UserBlocks(BaseModel):
    blocked_for: list[BlockedFor]


# (account digest, identifier, connection name) for each identifier to look at.
_Keys = list[tuple[str, str, str]]


async def _keys_for_identifier(rt: Runtime, identifier: str | None) -> _Keys:
    if not identifier or len(identifier) > MAX_IDENTIFIER_CHARS or "\x00" in identifier:
        raise BadRequest("Query validation error: identifier is required (an email or "
                         "username)", error_code="invalid_query_string")
    ident = normalise(identifier)
    return [(bruteforce.account_key(rt, c.id, ident), ident, c.name)
            for c in await rt.store.list_connections(STRATEGY)]


async def _keys_for_user(rt: Runtime, user_id: str) -> _Keys:
    if await rt.store.get_user(checked_user_id(user_id)) is None:
        raise NotFound("The user does not exist.", error_code="inexistent_user")
    keys: _Keys = []
    for credential in await password_store.credentials_of(rt.store, user_id):
        connection = await rt.store.get_connection(credential.connection_id)
        name = connection.name if connection else ""
        keys += [(bruteforce.account_key(rt, credential.connection_id, ident), ident, name)
                 for ident in (credential.email, credential.username) if ident]
    return keys


async def _list(rt: Runtime, keys: _Keys) -> dict[str, Any]:
    names = {account: (ident, connection) for account, ident, connection in keys}
    since = now_ms() - rt.settings.brute_force_block_s * 1000
    blocked = await password_store.blocked_addresses(rt.store, list(names), since)
    return UserBlocks(blocked_for=[
        BlockedFor(identifier=names[account][0], ip=ip, connection=names[account][1])
        for account, ip in blocked]).model_dump()


async def for_identifier(rt: Runtime, identifier: str | None) -> dict[str, Any]:
    return await _list(rt, await _keys_for_identifier(rt, identifier))


async def for_user(rt: Runtime, user_id: str) -> dict[str, Any]:
    return await _list(rt, await _keys_for_user(rt, user_id))


async def unblock_identifier(rt: Runtime, identifier: str | None) -> None:
    await bruteforce.unblock(rt, [k[0] for k in await _keys_for_identifier(rt, identifier)])


async def unblock_user(rt: Runtime, user_id: str) -> None:
    await bruteforce.unblock(rt, [k[0] for k in await _keys_for_user(rt, user_id)])
