"""/api/v2/client-grants: which scopes a client may obtain for an audience."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idbroker.errors import BadRequest, NotFound
from idbroker.management.validation import parse
from idbroker.oauth.scopes import MANAGEMENT_SCOPES
from idbroker.settings import Settings
from idbroker.vault import resource_server_store as rs_store
from idbroker.vault.records import ClientGrant
from idbroker.vault.store import Store


def _known(scopes: list[str]) -> list[str]:
    # Which scopes exist depends on the audience (the Management API's, or a resource
    # server's): checked by _check_scopes once the audience is known.
    if len(scopes) > 200 or any(not 0 < len(s) <= 280 for s in scopes):
        raise ValueError("invalid scope list")
    return list(dict.fromkeys(scopes))


async def _check_scopes(store: Store, audience: str, scopes: list[str]) -> None:
    server = await rs_store.get_by_identifier(store, audience)
    defined = server.scope_values if server is not None else MANAGEMENT_SCOPES
    unknown = [s for s in scopes if s not in defined]
    if unknown:
        raise BadRequest(f"Payload validation error: unknown scope {unknown[0]!r} (at scope)")


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    audience: str = Field(min_length=1, max_length=600)
    scope: list[str]
    _scopes = field_validator("scope")(_known)


class GrantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: list[str]
    _scopes = field_validator("scope")(_known)


def render(grant: ClientGrant) -> dict[str, Any]:
    return {"id": grant.id, "client_id": grant.client_id, "audience": grant.audience,
            "scope": grant.scope}


def canonical_audience(settings: Settings, audience: str) -> str:
    if audience not in settings.management_audience_aliases:
        raise BadRequest(f"No resource server found for audience {audience}",
                         error_code="invalid_body")
    return settings.management_audience


async def resolve_audience(store: Store, settings: Settings, audience: str) -> str:
    """The Management API (any alias) or a resource server's identifier."""
    if audience not in settings.management_audience_aliases:
        if await rs_store.get_by_identifier(store, audience) is not None:
            return audience
    return canonical_audience(settings, audience)


async def create(store: Store, settings: Settings, body: Any) -> dict[str, Any]:
    req = parse(GrantCreate, body)
    if await store.get_client(req.client_id) is None:
        raise NotFound("The client does not exist", error_code="inexistent_client")
    audience = await resolve_audience(store, settings, req.audience)
    await _check_scopes(store, audience, req.scope)
    return render(await store.create_client_grant(req.client_id, audience, req.scope))


async def list_all(store: Store, settings: Settings, *, client_id: str | None,
                   audience: str | None) -> list[dict[str, Any]]:
    if audience is not None and audience in settings.management_audience_aliases:
        audience = settings.management_audience
    return [render(g) for g in await store.list_client_grants(client_id=client_id, audience=audience)]


async def get(store: Store, grant_id: str) -> dict[str, Any]:
    grant = await store.get_client_grant(grant_id)
    if grant is None:
        raise NotFound("The client grant does not exist", error_code="inexistent_client_grant")
    return render(grant)


async def update(store: Store, grant_id: str, body: Any) -> dict[str, Any]:
    req = parse(GrantUpdate, body)
    existing = await store.get_client_grant(grant_id)
    if existing is not None:
        await _check_scopes(store, existing.audience, req.scope)
    grant = await store.update_client_grant(grant_id, req.scope)
    if grant is None:
        raise NotFound("The client grant does not exist", error_code="inexistent_client_grant")
    return render(grant)


async def delete(store: Store, grant_id: str) -> None:
    if not await store.delete_client_grant(grant_id):
        raise NotFound("The client grant does not exist", error_code="inexistent_client_grant")
