"""Webhook delivery of events from the durable event outbox (docs/events.md).

The ``events`` job fans pending events out to the endpoints subscribed to them (one delivery
row per endpoint), then sends the due deliveries, each claimed by a conditional UPDATE so any
number of workers can run it. Every request is signed (``Idbroker-Signature``, Stripe-style),
sent with a short timeout, never follows a redirect, and is retried with exponential backoff
and jitter until ``IDBROKER_EVENT_GIVE_UP_AFTER_S`` after the event, then given up (logged).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from typing import Any
from urllib.parse import urlsplit

import httpx

from idbroker.clock import iso_ms, now_ms, now_s
from idbroker.errors import VaultError
from idbroker.lifecycle.jobs import register
from idbroker.runtime import Runtime
from idbroker.settings import Mode, Settings
from idbroker.vault import event_store as es

log = logging.getLogger("idbroker.events")

JOB_INTERVAL_S = 5.0
BATCH_SIZE = 50
SIGNATURE_HEADER = "Idbroker-Signature"
USER_AGENT = "idbroker-webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (docs/events.md has the same code to copy)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def payload(event: dict[str, Any]) -> bytes:
    return json.dumps({"id": event["id"], "type": event["type"],
                       "created_at": iso_ms(event["created_at"]), "data": event["data"]},
                      separators=(",", ":"), sort_keys=True).encode()


def url_allowed(settings: Settings, url: str) -> bool:
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and settings.mode is Mode.development)


def backoff_ms(settings: Settings, attempts: int) -> int:
    delay = min(settings.event_retry_max_s, settings.event_retry_first_s * 2 ** max(0, attempts - 1))
    return int(delay * random.uniform(0.8, 1.2) * 1000)


async def _send(http: httpx.AsyncClient, url: str, secret: str, event: dict[str, Any],
                delivery_id: str) -> tuple[int | None, str | None]:
    """One attempt: (HTTP status or None, error summary or None when delivered)."""
    body = payload(event)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               SIGNATURE_HEADER: sign(secret, now_s(), body),
               "Idbroker-Event-Id": event["id"], "Idbroker-Event-Type": event["type"],
               "Idbroker-Delivery-Id": delivery_id}
    try:
        # The response body is never read: nothing a receiver says is needed, and a huge or
        # slow body must not hold the worker.
        async with http.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.HTTPError as exc:
        return None, f"connection failed ({type(exc).__name__})"
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, "redirect not followed"
    return status, f"HTTP {status}"


async def _deliver(rt: Runtime, http: httpx.AsyncClient, delivery: es.Delivery) -> bool:
    settings = rt.settings
    lease_until = now_ms() + int(settings.event_delivery_timeout_s * 1000) + 60_000
    if not await es.claim(rt.store, delivery, lease_until):
        return False
    endpoint = await es.get_endpoint(rt.store, delivery.endpoint_id)
    event = await es.get_event(rt.store, delivery.event_id)
    attempts = delivery.attempts + 1
    status: int | None = None
    if endpoint is None or event is None:
        error: str | None = "endpoint or event deleted"
    elif not endpoint.enabled:
        error = "endpoint disabled"
    elif not url_allowed(settings, endpoint.url):
        error = "endpoint URL not allowed in production mode (https only)"
    else:
        try:
            secret = es.open_secret(rt.store, endpoint)
        except VaultError as exc:
            log.error("event endpoint %s: signing secret does not open (%s)", endpoint.id,
                      exc.detail)
            secret = None
        if secret is None:
            error = "signing secret unreadable"
        else:
            status, error = await _send(http, endpoint.url, secret, event, delivery.id)
    now = now_ms()
    if error is None:
        await es.finish(rt.store, delivery.id, status="delivered", next_attempt_at=now,
                        last_status=status, last_error=None)
        return True
    # Retrying cannot help a deleted, disabled or (in production) plain-http endpoint.
    final = (endpoint is None or event is None or not endpoint.enabled
             or not url_allowed(settings, endpoint.url))
    next_at = now + backoff_ms(settings, attempts)
    if final or next_at > delivery.created_at + settings.event_give_up_after_s * 1000:
        log.warning("event %s to endpoint %s given up after %d attempt(s): %s",
                    delivery.event_id, delivery.endpoint_id, attempts, error)
        await es.finish(rt.store, delivery.id, status="given_up", next_attempt_at=now,
                        last_status=status, last_error=error)
    else:
        log.info("event %s to endpoint %s attempt %d failed: %s; next in %.0f s",
                 delivery.event_id, delivery.endpoint_id, attempts, error, (next_at - now) / 1000)
        await es.finish(rt.store, delivery.id, status="pending", next_attempt_at=next_at,
                        last_status=status, last_error=error)
    return True


@register("events", JOB_INTERVAL_S)
async def run_once(rt: Runtime, http: httpx.AsyncClient | None = None) -> int:
    """Fan out pending events, then attempt every due delivery (concurrently, so one slow
    endpoint costs at most one timeout). Returns how many events and deliveries it handled."""
    handled = await es.fan_out(rt.store, BATCH_SIZE)
    due = await es.due_deliveries(rt.store, now_ms(), BATCH_SIZE)
    if not due:
        return handled
    own = http is None
    client = http or httpx.AsyncClient(timeout=rt.settings.event_delivery_timeout_s,
                                       follow_redirects=False)
    try:
        results = await asyncio.gather(*(_deliver(rt, client, d) for d in due))
    finally:
        if own:
            await client.aclose()
    return handled + sum(results)
