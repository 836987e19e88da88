"""Refresh failures (issue 4 item 2; security_tests.md E9, E10, E11): a dead grant flags the
identity for re-consent once and is never served as fresh; a failing upstream is retried
within a bounded budget honouring Retry-After, then left alone for a cooldown; no token value
reaches an audit record, an event, a log line or an error."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from idbroker.clock import now_ms
from idbroker.errors import IdpRefreshUnavailable, IdpTokenNeedsReconsent
from idbroker.lifecycle.outbox import IDENTITY_NEEDS_RECONSENT, TOKEN_REFRESH_FAILED
from idbroker.lifecycle.refresh import AUDIT_REFRESH_FAILED, Actor, fresh_token_set
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault import schema as t
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.functional.lifecycle.test_refresh import (
    ALICE, expire, read_identity, rows, signed_in,
)
from tests.support import Broker

TOKEN_FIELDS = {"access_token", "refresh_token", "expires_in", "access_token_secret"}


class FlakyToken(httpx.AsyncBaseTransport):
    """The upstream, except that its token endpoint answers the queued failures first (an
    HTTP status with headers, or "timeout"), as a real provider under load does."""

    def __init__(self, upstream: FakeOIDCUpstream) -> None:
        self.inner = httpx.ASGITransport(app=upstream.app)
        self.failures: list[tuple[int, dict[str, str]] | str] = []
        self.token_requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            self.token_requests += 1
            if self.failures:
                failure = self.failures.pop(0)
                if failure == "timeout":
                    raise httpx.ReadTimeout("injected", request=request)
                status, headers = failure
                return httpx.Response(status, headers=headers, json={"error": "server_error"})
        return await self.inner.handle_async_request(request)


@pytest.fixture
def flaky(upstream: FakeOIDCUpstream) -> FlakyToken:
    return FlakyToken(upstream)


@pytest.fixture
async def runtime(settings: Settings, upstream: FakeOIDCUpstream,
                  flaky: FlakyToken) -> AsyncIterator[Runtime]:
    http = httpx.AsyncClient(transport=RoutingTransport({upstream.host: flaky}))
    rt = await Runtime.start(settings, http=http)
    yield rt
    await rt.close()
    await http.aclose()


def no_token_fields(identity: dict[str, Any]) -> bool:
    return not TOKEN_FIELDS & identity.keys()


async def events(broker: Broker, type_: str) -> list[dict[str, Any]]:
    return [e for e in await rows(broker, t.event_outbox) if e["type"] == type_]


async def identity_row(broker: Broker, identity_id: str) -> dict[str, Any]:
    async with broker.runtime.store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.identities).where(
            t.identities.c.id == identity_id))).one()
    return dict(row._mapping)


async def refresh_row(broker: Broker, identity_id: str) -> dict[str, Any]:
    async with broker.runtime.store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.identity_refresh).where(
            t.identity_refresh.c.identity_id == identity_id))).one()
    return dict(row._mapping)


async def test_invalid_grant_flags_reauth_once_and_a_new_login_clears_it(
        broker: Broker, flaky: FlakyToken, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world = await signed_in(broker)
    stolen = world.login_tokens["refresh_token"]
    # Someone else redeemed the rotating refresh token (or the user revoked consent): the
    # upstream now answers invalid_grant to it.
    async with httpx.AsyncClient(transport=broker.upstream.transport()) as idp:
        burnt = await idp.post(f"{broker.upstream.issuer}/token", data={
            "grant_type": "refresh_token", "refresh_token": stolen,
            "client_id": broker.upstream.client_id,
            "client_secret": broker.upstream.client_secret})
    assert burnt.status_code == 200
    await expire(broker, world.identity_id)
    before = flaky.token_requests

    identity = await read_identity(broker, world.reader)
    assert no_token_fields(identity) and identity["token_status"] == "reauth_required"
    assert flaky.token_requests == before + 1  # no retry of a dead grant
    assert (await identity_row(broker, world.identity_id))["token_status"] == "reauth_required"
    assert len(await events(broker, IDENTITY_NEEDS_RECONSENT)) == 1
    failed = [r for r in await rows(broker, t.audit_log) if r["type"] == AUDIT_REFRESH_FAILED]
    assert len(failed) == 1 and failed[0]["details"]["result"] == "reauth_required"
    assert any("token refresh failed" in r.getMessage() for r in caplog.records)

    # Every later read and exchange answers at once, without calling the upstream again.
    plain = await broker.mgmt_token(["read:users"])
    assert (await read_identity(broker, plain))["token_status"] == "reauth_required"
    assert no_token_fields(await read_identity(broker, world.reader))
    with pytest.raises(IdpTokenNeedsReconsent):
        await fresh_token_set(broker.runtime, world.identity_id,
                              actor=Actor(client_id="x", via="token_exchange"))
    assert flaky.token_requests == before + 1
    assert len(await events(broker, IDENTITY_NEEDS_RECONSENT)) == 1

    # Nothing of any token in the records, events or logs of the failure.
    secrets = [stolen, world.login_tokens["access_token"], burnt.json()["access_token"],
               burnt.json()["refresh_token"]]
    dump = str(await rows(broker, t.audit_log)) + str(await rows(broker, t.event_outbox))
    dump += "\n".join(r.getMessage() for r in caplog.records)
    assert not [s for s in secrets if s in dump]

    # Signing in again brings the identity back.
    await broker.login(world.app)
    back = await read_identity(broker, world.reader)
    assert "token_status" not in back
    assert back["access_token"] == broker.upstream.issued[-1]["access_token"]


async def test_5xx_is_retried_within_budget_then_held_off(
        broker: Broker, flaky: FlakyToken) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    flaky.failures = [(503, {}), (502, {}), "timeout"]
    before = flaky.token_requests

    identity = await read_identity(broker, world.reader)
    assert flaky.token_requests == before + 3  # one try and two retries, then it gives up
    assert no_token_fields(identity) and identity["token_status"] == "refresh_unavailable"
    assert (await identity_row(broker, world.identity_id))["token_status"] == "active"
    failed = await events(broker, TOKEN_REFRESH_FAILED)
    assert len(failed) == 1 and failed[0]["data"]["user_id"] == ALICE

    # Within the cooldown: no upstream call at all, the same answer, no second event.
    again = await read_identity(broker, world.reader)
    assert again["token_status"] == "refresh_unavailable" and flaky.token_requests == before + 3
    with pytest.raises(IdpRefreshUnavailable):
        await fresh_token_set(broker.runtime, world.identity_id,
                              actor=Actor(client_id="x", via="token_exchange"))

    # Once the cooldown is over, the upstream is back: refreshed, failure state cleared.
    async with broker.runtime.store.engine.begin() as conn:
        await conn.execute(t.identity_refresh.update().values(not_before=now_ms() - 1))
    renewed = await read_identity(broker, world.reader)
    assert renewed["access_token"] == broker.upstream.issued[-1]["access_token"]
    state = await refresh_row(broker, world.identity_id)
    assert state["failing_since"] is None and state["not_before"] is None
    assert len(await events(broker, TOKEN_REFRESH_FAILED)) == 1


async def test_429_retry_after_beyond_the_budget_is_honoured(
        broker: Broker, flaky: FlakyToken) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    flaky.failures = [(429, {"Retry-After": "120"})]
    before = flaky.token_requests
    started = now_ms()
    identity = await read_identity(broker, world.reader)
    assert flaky.token_requests == before + 1  # 120 s do not fit the budget: no retry
    assert identity["token_status"] == "refresh_unavailable"
    not_before = (await refresh_row(broker, world.identity_id))["not_before"]
    assert started + 119_000 <= not_before <= now_ms() + 120_000


async def test_short_retry_after_is_waited_for(broker: Broker, flaky: FlakyToken) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    flaky.failures = [(503, {"Retry-After": "0"})]
    before = flaky.token_requests
    identity = await read_identity(broker, world.reader)
    assert flaky.token_requests == before + 2
    assert identity["access_token"] == broker.upstream.issued[-1]["access_token"]


async def test_an_unexpired_token_is_still_served_when_the_early_refresh_fails(
        broker: Broker, flaky: FlakyToken) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id, seconds_ago=-30)  # expires in 30 s < margin 60 s
    flaky.failures = [(500, {})] * 3
    identity = await read_identity(broker, world.reader)
    assert identity["access_token"] == world.login_tokens["access_token"]
    assert 0 < identity["expires_in"] <= 30 and "token_status" not in identity
    with pytest.raises(IdpRefreshUnavailable):  # a forced refresh still says it failed
        await fresh_token_set(broker.runtime, world.identity_id,
                              actor=Actor(client_id="x", via="test"), force=True)


async def test_refreshed_id_token_about_another_subject_is_rejected(broker: Broker) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    broker.upstream.hooks.id_token_claims = {"sub": "mallory"}
    identity = await read_identity(broker, world.reader)
    assert no_token_fields(identity) and identity["token_status"] == "refresh_unavailable"
    # E11: the old tokens are kept, untouched.
    tokens = broker.runtime.store.open_tokens(
        (await broker.runtime.store.get_user(ALICE)).identities[0])  # type: ignore[union-attr]
    assert tokens is not None
    assert tokens.refresh_token == world.login_tokens["refresh_token"]
    assert tokens.access_token == world.login_tokens["access_token"]
