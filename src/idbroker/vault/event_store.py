"""Storage of webhook endpoints and of each event's delivery to each endpoint.

The event outbox is filled by whoever makes a change (lifecycle/outbox.py, in the change's own
transaction); here it is fanned out into one delivery row per matching endpoint, and delivery
rows are claimed with conditional UPDATEs, so any number of workers can share the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.store import Store


def endpoint_secret_aad(endpoint_id: str) -> str:
    return f"idbroker/event-endpoint-secret/{endpoint_id}"


@dataclass(frozen=True, slots=True)
class EventEndpoint:
    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: int
    updated_at: int
    secret_sealed: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    endpoint_id: str
    status: str
    attempts: int
    next_attempt_at: int
    last_status: int | None
    last_error: str | None
    created_at: int
    updated_at: int


# --- endpoints -----------------------------------------------------------------------------

async def create_endpoint(store: Store, *, url: str, events: list[str], enabled: bool,
                          secret: str) -> EventEndpoint:
    endpoint_id = new_id("ep_")
    stamp = now_ms()
    async with store.engine.begin() as conn:
        await conn.execute(t.event_endpoints.insert().values(
            id=endpoint_id, url=url, events=events, enabled=enabled,
            secret_sealed=store.vault.seal(secret.encode(), endpoint_secret_aad(endpoint_id)),
            created_at=stamp, updated_at=stamp))
    found = await get_endpoint(store, endpoint_id)
    assert found is not None
    return found


async def get_endpoint(store: Store, endpoint_id: str) -> EventEndpoint | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.event_endpoints).where(
            t.event_endpoints.c.id == endpoint_id))).first()
    return EventEndpoint(**row._mapping) if row else None


async def list_endpoints(store: Store) -> list[EventEndpoint]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(t.event_endpoints).order_by(
            t.event_endpoints.c.created_at, t.event_endpoints.c.id))
    return [EventEndpoint(**row._mapping) for row in rows]


async def update_endpoint(store: Store, endpoint_id: str, changes: dict[str, Any],
                          secret: str | None = None) -> EventEndpoint | None:
    values = {k: v for k, v in changes.items() if k in ("url", "events", "enabled")}
    if secret is not None:
        values["secret_sealed"] = store.vault.seal(secret.encode(),
                                                   endpoint_secret_aad(endpoint_id))
    values["updated_at"] = now_ms()
    async with store.engine.begin() as conn:
        result = await conn.execute(t.event_endpoints.update().where(
            t.event_endpoints.c.id == endpoint_id).values(**values))
    return await get_endpoint(store, endpoint_id) if result.rowcount else None


async def delete_endpoint(store: Store, endpoint_id: str) -> bool:
    async with store.engine.begin() as conn:
        await conn.execute(t.event_deliveries.delete().where(
            t.event_deliveries.c.endpoint_id == endpoint_id))
        result = await conn.execute(t.event_endpoints.delete().where(
            t.event_endpoints.c.id == endpoint_id))
    return bool(result.rowcount)


def open_secret(store: Store, endpoint: EventEndpoint) -> str:
    return store.vault.open(endpoint.secret_sealed, endpoint_secret_aad(endpoint.id)).decode()


# --- fan-out and deliveries ----------------------------------------------------------------

async def fan_out(store: Store, limit: int = 100) -> int:
    """Turn pending events into one delivery per enabled endpoint subscribed to their type.

    An event is taken by a conditional UPDATE (pending → dispatched) in the same transaction
    that inserts its deliveries, so two workers never fan one event out twice."""
    async with store.engine.connect() as conn:
        events = list(await conn.execute(sa.select(
            t.event_outbox.c.id, t.event_outbox.c.type).where(
            t.event_outbox.c.status == "pending").order_by(
            t.event_outbox.c.created_at, t.event_outbox.c.id).limit(limit)))
    if not events:
        return 0
    endpoints = [e for e in await list_endpoints(store) if e.enabled]
    handled = 0
    for event_id, type_ in events:
        stamp = now_ms()
        try:
            async with store.engine.begin() as conn:
                won = await conn.execute(t.event_outbox.update().where(
                    t.event_outbox.c.id == event_id,
                    t.event_outbox.c.status == "pending").values(status="dispatched"))
                if won.rowcount != 1:
                    continue
                for endpoint in endpoints:
                    if type_ in endpoint.events:
                        await conn.execute(t.event_deliveries.insert().values(
                            id=new_id("dlv_"), event_id=event_id, endpoint_id=endpoint.id,
                            status="pending", attempts=0, next_attempt_at=stamp,
                            created_at=stamp, updated_at=stamp))
        except IntegrityError:
            # The endpoint was deleted while we fanned out; the event stays pending and
            # the next run fans it out to the endpoints that exist then.
            continue
        handled += 1
    return handled


async def due_deliveries(store: Store, now: int, limit: int) -> list[Delivery]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(t.event_deliveries).where(
            t.event_deliveries.c.status == "pending",
            t.event_deliveries.c.next_attempt_at <= now).order_by(
            t.event_deliveries.c.next_attempt_at, t.event_deliveries.c.id).limit(limit))
    return [Delivery(**row._mapping) for row in rows]


async def claim(store: Store, delivery: Delivery, lease_until: int) -> bool:
    """Take one delivery for one attempt; False when another worker took it first."""
    async with store.engine.begin() as conn:
        won = await conn.execute(t.event_deliveries.update().where(
            t.event_deliveries.c.id == delivery.id,
            t.event_deliveries.c.status == "pending",
            t.event_deliveries.c.next_attempt_at == delivery.next_attempt_at).values(
            next_attempt_at=lease_until, attempts=t.event_deliveries.c.attempts + 1,
            updated_at=now_ms()))
    return won.rowcount == 1


async def finish(store: Store, delivery_id: str, *, status: str, next_attempt_at: int,
                 last_status: int | None, last_error: str | None) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(t.event_deliveries.update().where(
            t.event_deliveries.c.id == delivery_id).values(
            status=status, next_attempt_at=next_attempt_at, last_status=last_status,
            last_error=last_error[:200] if last_error else None, updated_at=now_ms()))


async def get_event(store: Store, event_id: str) -> dict[str, Any] | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(
            t.event_outbox.c.id, t.event_outbox.c.type, t.event_outbox.c.data,
            t.event_outbox.c.created_at).where(t.event_outbox.c.id == event_id))).first()
    return dict(row._mapping) if row else None


async def list_deliveries(store: Store, *, endpoint_id: str | None = None,
                          event_id: str | None = None) -> list[Delivery]:
    query = sa.select(t.event_deliveries).order_by(t.event_deliveries.c.created_at,
                                                   t.event_deliveries.c.id)
    if endpoint_id:
        query = query.where(t.event_deliveries.c.endpoint_id == endpoint_id)
    if event_id:
        query = query.where(t.event_deliveries.c.event_id == event_id)
    async with store.engine.connect() as conn:
        rows = await conn.execute(query)
    return [Delivery(**row._mapping) for row in rows]
