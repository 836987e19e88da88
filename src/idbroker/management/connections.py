"""/api/v2/connections: upstream IdPs. Options are validated by the strategy's connector;
the upstream ``client_secret`` is sealed in the vault and never returned."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from idbroker.connectors.base import UpstreamPolicy
from idbroker.connectors.registry import split_secrets, validate
from idbroker.dbconn import STRATEGY as DATABASE_STRATEGY
from idbroker.dbconn.options import parse_options
from idbroker.errors import BadRequest, ConfigurationError, NotFound
from idbroker.management.validation import parse
from idbroker.vault.records import Connection
from idbroker.vault.store import Store

NAME_PATTERN = r"^[A-Za-z0-9](-?[A-Za-z0-9])*$"


# Auth0 connection properties accepted for compatibility and ignored (see docs/api.md).
IGNORED_AUTH0_FIELDS = frozenset({
    "metadata", "realms", "is_domain_connection", "show_as_button", "authentication",
    "connected_accounts",
})


def _drop_ignored(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in IGNORED_AUTH0_FIELDS}
    return data


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _ignored = model_validator(mode="before")(_drop_ignored)
    name: str = Field(min_length=1, max_length=128, pattern=NAME_PATTERN)
    strategy: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)
    options: dict[str, Any] = {}
    enabled_clients: list[str] = []


class ConnectionChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _ignored = model_validator(mode="before")(_drop_ignored)
    display_name: str | None = Field(default=None, max_length=200)
    options: dict[str, Any] | None = None
    enabled_clients: list[str] | None = None


def render(connection: Connection) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": connection.id, "name": connection.name, "strategy": connection.strategy,
        "options": connection.options, "enabled_clients": connection.enabled_clients,
        "is_domain_connection": False, "realms": [connection.name],
    }
    if connection.display_name:
        body["display_name"] = connection.display_name
    return body


def _validated(strategy: str, options: dict[str, Any], policy: UpstreamPolicy) -> None:
    try:
        if strategy == DATABASE_STRATEGY:
            parse_options(options)
        else:
            validate(strategy, options, policy)
    except ConfigurationError as exc:
        raise BadRequest(f"Payload validation error: {exc.description}") from exc


async def _check_clients(store: Store, client_ids: list[str]) -> list[str]:
    for client_id in client_ids:
        if await store.get_client(client_id) is None:
            raise BadRequest(f"Payload validation error: unknown client {client_id!r} in "
                             "enabled_clients")
    return list(dict.fromkeys(client_ids))


async def create(store: Store, policy: UpstreamPolicy, body: Any) -> dict[str, Any]:
    req = parse(ConnectionCreate, body)
    _validated(req.strategy, req.options, policy)
    public, secrets = split_secrets(req.options)
    connection = await store.create_connection(
        name=req.name, strategy=req.strategy, options=public, secrets=secrets,
        enabled_clients=await _check_clients(store, req.enabled_clients),
        display_name=req.display_name)
    return render(connection)


async def get(store: Store, connection_id: str) -> dict[str, Any]:
    return render(await _existing(store, connection_id))


async def _existing(store: Store, connection_id: str) -> Connection:
    connection = await store.get_connection(connection_id)
    if connection is None:
        raise NotFound("The connection does not exist", error_code="inexistent_connection")
    return connection


async def list_all(store: Store, *, strategy: str | None, name: str | None) -> list[dict[str, Any]]:
    found = await store.list_connections(strategy)
    return [render(c) for c in found if name is None or c.name == name]


async def update(store: Store, policy: UpstreamPolicy, connection_id: str,
                 body: Any) -> dict[str, Any]:
    req = parse(ConnectionChanges, body)
    current = await _existing(store, connection_id)
    public = secrets = None
    if req.options is not None:
        # Options are replaced as a whole (as at Auth0), except the write-only secret, which
        # callers cannot read back and so is kept unless a new one is sent.
        merged = {**current.secrets, **req.options}
        _validated(current.strategy, merged, policy)
        public, secrets = split_secrets(merged)
    enabled = None if req.enabled_clients is None else await _check_clients(store, req.enabled_clients)
    updated = await store.update_connection(
        connection_id, options=public, secrets=secrets, enabled_clients=enabled,
        display_name=req.display_name)
    assert updated is not None
    return render(updated)


async def delete(store: Store, connection_id: str) -> None:
    if not await store.delete_connection(connection_id):
        raise NotFound("The connection does not exist", error_code="inexistent_connection")
