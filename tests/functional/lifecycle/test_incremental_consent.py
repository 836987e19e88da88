"""Incremental consent (issue 4 item 7): signing in again with more `connection_scope` for an
already linked identity replaces its tokens atomically and shows the scopes the upstream
granted — also when a refresh of the old grant is in flight at that moment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from idbroker.runtime import Runtime
from idbroker.settings import Settings
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.functional.lifecycle.test_refresh import ALICE, expire, read_identity, signed_in
from tests.support import Broker

BASE = ["openid", "profile", "email", "offline_access"]


class Upstream(httpx.AsyncBaseTransport):
    """The fake upstream, with two switches on its token endpoint: drop `scope` from its
    answers (RFC 6749 §5.1 allows it), and hold refresh answers until a code is redeemed."""

    def __init__(self, upstream: FakeOIDCUpstream) -> None:
        self.inner = httpx.ASGITransport(app=upstream.app)
        self.omit_scope = False
        self.hold_refresh: asyncio.Event | None = None
        self.code_redeemed = asyncio.Event()
        self.refresh_started = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/token"):
            return await self.inner.handle_async_request(request)
        body = request.content.decode()
        if "grant_type=refresh_token" in body and self.hold_refresh is not None:
            self.refresh_started.set()
            await self.code_redeemed.wait()
        response = await self.inner.handle_async_request(request)
        if "grant_type=authorization_code" in body:
            self.code_redeemed.set()
        if not self.omit_scope or response.status_code != 200:
            return response
        data = json.loads(await response.aread())
        data.pop("scope", None)
        return httpx.Response(200, json=data, headers={"Cache-Control": "no-store"})


@pytest.fixture
def switches(upstream: FakeOIDCUpstream) -> Upstream:
    return Upstream(upstream)


@pytest.fixture
async def runtime(settings: Settings, upstream: FakeOIDCUpstream,
                  switches: Upstream) -> AsyncIterator[Runtime]:
    http = httpx.AsyncClient(transport=RoutingTransport({upstream.host: switches}))
    rt = await Runtime.start(settings, http=http)
    yield rt
    await rt.close()
    await http.aclose()


async def test_more_scopes_replace_the_tokens_and_show_what_was_granted(broker: Broker) -> None:
    world = await signed_in(broker)
    plain = await broker.mgmt_token(["read:users"])
    assert (await read_identity(broker, plain))["scopes"] == BASE

    await broker.login(world.app, connection_scope="calendar.read,contacts.read")
    issued = broker.upstream.issued[-1]
    assert issued["scope"].split() == [*BASE, "calendar.read", "contacts.read"]
    shown = await read_identity(broker, plain)
    assert shown["scopes"] == [*BASE, "calendar.read", "contacts.read"]
    assert not {"access_token", "refresh_token"} & shown.keys()
    tokens = await read_identity(broker, world.reader)
    assert tokens["access_token"] == issued["access_token"]
    assert tokens["refresh_token"] == issued["refresh_token"]
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None and user.identities[0].granted_scopes == shown["scopes"]

    # The upstream's answer is authoritative: a later narrower grant narrows the scopes.
    await broker.login(world.app)
    assert (await read_identity(broker, plain))["scopes"] == BASE


async def test_a_response_without_scope_keeps_what_was_granted(
        broker: Broker, switches: Upstream) -> None:
    world = await signed_in(broker)
    switches.omit_scope = True
    await broker.login(world.app)
    shown = await read_identity(broker, world.reader)
    assert shown["scopes"] == BASE
    assert shown["access_token"] == broker.upstream.issued[-1]["access_token"]

    # Without a `scope` in the answer, what this login asked for (connection_scope included)
    # was granted (RFC 6749 §5.1): the extra scope is merged in.
    await broker.login(world.app, connection_scope="calendar.read")
    assert (await read_identity(broker, world.reader))["scopes"] == [*BASE, "calendar.read"]


async def test_a_login_during_a_refresh_of_the_old_grant_wins(
        broker: Broker, switches: Upstream) -> None:
    world = await signed_in(broker)
    await expire(broker, world.identity_id)
    switches.hold_refresh = asyncio.Event()
    switches.code_redeemed.clear()
    reading = asyncio.ensure_future(read_identity(broker, world.reader))
    await asyncio.wait_for(switches.refresh_started.wait(), 10)  # old grant's refresh is out
    await asyncio.wait_for(broker.login(world.app, connection_scope="calendar.read"), 30)
    login_tokens = next(b for b in reversed(broker.upstream.issued)
                        if "calendar.read" in b["scope"].split() and "id_token" in b)
    await asyncio.wait_for(reading, 30)

    # Whatever order the two writes took, the new login's tokens and scopes are stored.
    final = await read_identity(broker, world.reader)
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None
    stored = broker.runtime.store.open_tokens(user.identities[0])
    assert stored is not None
    assert "calendar.read" in final["scopes"] and "calendar.read" in stored.scope
    assert stored.access_token == login_tokens["access_token"]
    assert stored.refresh_token == login_tokens["refresh_token"]
