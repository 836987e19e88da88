"""/api/v2/event-endpoints: where events are delivered as signed webhooks (docs/events.md).

The signing secret is generated here and shown once, in the response that creates (or
rotates) it; it is stored sealed, because each delivery must be signed with it, and never
returned again."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idbroker.clock import iso_ms
from idbroker.errors import BadRequest, NotFound
from idbroker.lifecycle import outbox
from idbroker.management.validation import parse
from idbroker.settings import Mode, Settings
from idbroker.vault import event_store as es
from idbroker.vault.store import Store

EVENT_TYPES = (
    outbox.IDENTITY_LINKED, outbox.IDENTITY_UNLINKED, outbox.TOKEN_REFRESH_FAILED,
    outbox.IDENTITY_NEEDS_RECONSENT, outbox.USER_DELETED, outbox.REVOCATION_FAILED,
)


def _check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(events))


class EndpointChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    enabled: bool | None = None

    _events = field_validator("events")(lambda v: None if v is None else _check_events(v))


class EndpointCreate(EndpointChanges):
    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))
    enabled: bool = True


def _check_url(settings: Settings, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("Payload validation error: url must be an absolute http(s) URL")
    if parts.scheme == "http" and settings.mode is not Mode.development:
        raise BadRequest("Payload validation error: url must use https in production mode")
    if parts.username is not None or parts.password is not None:
        # Credentials in the URL would be stored and shown in clear; receivers authenticate
        # deliveries by their signature instead.
        raise BadRequest("Payload validation error: url must not contain credentials")
    if parts.fragment:
        raise BadRequest("Payload validation error: url must not contain a fragment")


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def render(endpoint: es.EventEndpoint, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id, "url": endpoint.url, "events": endpoint.events,
        "enabled": endpoint.enabled, "created_at": iso_ms(endpoint.created_at),
        "updated_at": iso_ms(endpoint.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


async def create(store: Store, settings: Settings, body: Any) -> dict[str, Any]:
    data = parse(EndpointCreate, body)
    _check_url(settings, data.url)
    secret = new_signing_secret()
    endpoint = await es.create_endpoint(store, url=data.url, events=data.events,
                                        enabled=data.enabled, secret=secret)
    return render(endpoint, secret)


async def list_all(store: Store) -> list[dict[str, Any]]:
    return [render(e) for e in await es.list_endpoints(store)]


async def get(store: Store, endpoint_id: str) -> dict[str, Any]:
    endpoint = await es.get_endpoint(store, endpoint_id)
    if endpoint is None:
        raise NotFound("The event endpoint does not exist.",
                       error_code="inexistent_event_endpoint")
    return render(endpoint)


async def update(store: Store, settings: Settings, endpoint_id: str, body: Any) -> dict[str, Any]:
    data = parse(EndpointChanges, body)
    if data.url is not None:
        _check_url(settings, data.url)
    changes = data.model_dump(exclude_none=True)
    endpoint = await es.update_endpoint(store, endpoint_id, changes)
    if endpoint is None:
        raise NotFound("The event endpoint does not exist.",
                       error_code="inexistent_event_endpoint")
    return render(endpoint)


async def rotate_secret(store: Store, endpoint_id: str) -> dict[str, Any]:
    secret = new_signing_secret()
    endpoint = await es.update_endpoint(store, endpoint_id, {}, secret=secret)
    if endpoint is None:
        raise NotFound("The event endpoint does not exist.",
                       error_code="inexistent_event_endpoint")
    return render(endpoint, secret)


async def delete(store: Store, endpoint_id: str) -> None:
    if not await es.delete_endpoint(store, endpoint_id):
        raise NotFound("The event endpoint does not exist.",
                       error_code="inexistent_event_endpoint")


async def deliveries(store: Store, endpoint_id: str) -> list[dict[str, Any]]:
    await get(store, endpoint_id)
    return [{"id": d.id, "event_id": d.event_id, "status": d.status, "attempts": d.attempts,
             "next_attempt_at": iso_ms(d.next_attempt_at) if d.status == "pending" else None,
             "last_status": d.last_status, "last_error": d.last_error,
             "created_at": iso_ms(d.created_at), "updated_at": iso_ms(d.updated_at)}
            for d in await es.list_deliveries(store, endpoint_id=endpoint_id)]
