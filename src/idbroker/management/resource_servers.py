"""/api/v2/resource-servers: the APIs apps request access tokens for with ``audience``.

The Management API itself is listed as a built-in, read-only resource server (``is_system``),
as Auth0 lists its own; it is not stored and cannot be changed or deleted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idbroker.errors import BadRequest, InvalidScope, NotFound
from idbroker.management.validation import parse
from idbroker.oauth import scopes as scope_rules
from idbroker.oauth.scopes import MANAGEMENT_SCOPES
from idbroker.settings import Settings
from idbroker.vault import resource_server_store as rs_store
from idbroker.vault.resource_server_store import ResourceServer
from idbroker.vault.store import Store

SYSTEM_ID = "rs_idbroker_management_api"
MAX_SCOPES = 200


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=280)
    description: str = Field(default="", max_length=500)

    @field_validator("value")
    @classmethod
    def _scope_token(cls, value: str) -> str:
        try:
            single = scope_rules.parse(value) == [value]
        except InvalidScope:
            single = False
        if not single:
            raise ValueError("a scope value is one scope token (no spaces, quotes or backslashes)")
        return value


def _unique(items: list[ScopeIn]) -> list[ScopeIn]:
    if len({s.value for s in items}) != len(items):
        raise ValueError("scope values must be unique")
    return items


class ResourceServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    identifier: str = Field(min_length=1, max_length=600)
    scopes: list[ScopeIn] = Field(default_factory=list, max_length=MAX_SCOPES)
    token_lifetime: int | None = Field(default=None, ge=60)
    signing_alg: Literal["RS256"] = "RS256"
    enforce_policies: bool = False
    allow_offline_access: bool = False
    _scopes = field_validator("scopes")(_unique)


class ResourceServerChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    scopes: list[ScopeIn] | None = Field(default=None, max_length=MAX_SCOPES)
    token_lifetime: int | None = Field(default=None, ge=60)
    signing_alg: Literal["RS256"] | None = None
    enforce_policies: bool | None = None
    allow_offline_access: bool | None = None
    _scopes = field_validator("scopes")(lambda v: v if v is None else _unique(v))


def render(server: ResourceServer) -> dict[str, Any]:
    return {
        "id": server.id, "name": server.name, "identifier": server.identifier,
        "is_system": False, "scopes": server.scopes, "signing_alg": server.signing_alg,
        "token_lifetime": server.token_lifetime, "token_lifetime_for_web": server.token_lifetime,
        "enforce_policies": server.enforce_policies,
        "allow_offline_access": server.allow_offline_access,
        "skip_consent_for_verifiable_first_party_clients": True,
        "token_dialect": "access_token",
    }


def system_api(settings: Settings) -> dict[str, Any]:
    return {
        "id": SYSTEM_ID, "name": "idbroker Management API",
        "identifier": settings.management_audience, "is_system": True,
        "scopes": [{"value": s, "description": s} for s in MANAGEMENT_SCOPES],
        "signing_alg": "RS256", "token_lifetime": settings.access_token_ttl,
        "token_lifetime_for_web": settings.access_token_ttl, "enforce_policies": False,
        "allow_offline_access": False,
        "skip_consent_for_verifiable_first_party_clients": False,
        "token_dialect": "access_token",
    }


def _reserved(settings: Settings, identifier: str) -> bool:
    return (identifier in settings.management_audience_aliases
            or identifier == f"{settings.issuer}userinfo")


def _is_system(settings: Settings, id_or_identifier: str) -> bool:
    return id_or_identifier == SYSTEM_ID or _reserved(settings, id_or_identifier)


async def _find(store: Store, id_or_identifier: str) -> ResourceServer:
    # Auth0 accepts the id or the (URL-encoded) identifier in the path.
    found = (await rs_store.get(store, id_or_identifier)
             or await rs_store.get_by_identifier(store, id_or_identifier))
    if found is None:
        raise NotFound("The resource server does not exist",
                       error_code="inexistent_resource_server")
    return found


def _lifetime(settings: Settings, requested: int | None) -> int:
    if requested is None:
        return settings.access_token_ttl
    if requested > settings.resource_server_max_token_lifetime:
        raise BadRequest(f"Payload validation error: token_lifetime must be at most "
                         f"{settings.resource_server_max_token_lifetime} (at token_lifetime)")
    return requested


async def create(store: Store, settings: Settings, body: Any) -> dict[str, Any]:
    req = parse(ResourceServerCreate, body)
    if _reserved(settings, req.identifier):
        raise BadRequest("The identifier is reserved by idbroker", error_code="invalid_body")
    server = await rs_store.create(
        store, identifier=req.identifier, name=req.name,
        scopes=[s.model_dump() for s in req.scopes],
        token_lifetime=_lifetime(settings, req.token_lifetime), signing_alg=req.signing_alg,
        enforce_policies=req.enforce_policies, allow_offline_access=req.allow_offline_access)
    return render(server)


async def list_all(store: Store, settings: Settings,
                   identifiers: list[str] | None = None) -> list[dict[str, Any]]:
    found = [system_api(settings), *[render(s) for s in await rs_store.list_all(store)]]
    if identifiers:
        found = [s for s in found if s["identifier"] in identifiers]
    return found


async def get(store: Store, settings: Settings, id_or_identifier: str) -> dict[str, Any]:
    if _is_system(settings, id_or_identifier):
        return system_api(settings)
    return render(await _find(store, id_or_identifier))


async def update(store: Store, settings: Settings, id_or_identifier: str,
                 body: Any) -> dict[str, Any]:
    req = parse(ResourceServerChanges, body)
    if _is_system(settings, id_or_identifier):
        raise BadRequest("The Management API cannot be changed",
                         error_code="operation_not_supported")
    server = await _find(store, id_or_identifier)
    changes = req.model_dump(exclude_unset=True)
    if "scopes" in changes:
        changes["scopes"] = [s.model_dump() for s in req.scopes or []]
    if "token_lifetime" in changes:
        changes["token_lifetime"] = _lifetime(settings, req.token_lifetime)
    for name in ("name", "signing_alg", "enforce_policies", "allow_offline_access"):
        if name in changes and changes[name] is None:
            raise BadRequest(f"Payload validation error: {name} cannot be null (at {name})")
    updated = await rs_store.update(store, server.id, changes)
    if updated is None:
        raise NotFound("The resource server does not exist",
                       error_code="inexistent_resource_server")
    return render(updated)


async def delete(store: Store, settings: Settings, id_or_identifier: str) -> None:
    if _is_system(settings, id_or_identifier):
        raise BadRequest("The Management API cannot be deleted",
                         error_code="operation_not_supported")
    server = await _find(store, id_or_identifier)
    await rs_store.delete(store, server.id)
