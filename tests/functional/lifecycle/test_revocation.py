"""Upstream revocation of IdP tokens (issue 4 item 4; security_tests.md E12–E15): explicit
revocation, unlink and user deletion leave the upstream's tokens inactive by the provider's own
RFC 7662 introspection; the outbox survives a crash, retries with backoff, gives up with an
event, is claimed once across workers, and never keeps or logs a token value."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from idbroker.http.app import create_app
from idbroker.lifecycle import revocation
from idbroker.lifecycle.outbox import REVOCATION_FAILED, enqueue_revocation
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault import schema as t
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.support import ISSUER, Broker

ALICE = "oidc|acme-oidc|alice"
TOKEN_KEYS = ("access_token", "refresh_token", "access_token_secret", "expires_in")


class FlakyRevocation:
    """The fake upstream, except that /revoke answers ``status`` while one is set (RFC 7009
    §2.2.1: 503 with an optional Retry-After means "try again later")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.status: int | None = None
        self.retry_after: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/revoke" and self.status:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            await JSONResponse({"error": "temporarily_unavailable"}, status_code=self.status,
                               headers=headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@pytest.fixture
def flaky(upstream: FakeOIDCUpstream) -> FlakyRevocation:
    return FlakyRevocation(upstream.app)


@pytest.fixture
async def runtime(settings: Settings, flaky: FlakyRevocation,
                  upstream: FakeOIDCUpstream) -> AsyncIterator[Runtime]:
    http = httpx.AsyncClient(transport=RoutingTransport({upstream.host: flaky}))
    rt = await Runtime.start(settings, http=http)
    yield rt
    await revocation.settle()
    await rt.close()
    await http.aclose()


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
async def acme(broker: Broker) -> dict[str, Any]:
    """A web app signing people in through the acme-oidc connection."""
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    return app


async def signed_in(broker: Broker, app: dict[str, Any], sub: str = "alice") -> dict[str, Any]:
    """Log ``sub`` in through acme-oidc; return the upstream's token response."""
    broker.upstream.set_login(sub)
    assert (await broker.exchange(app, await broker.login(app))).status_code == 200
    issued = broker.upstream.issued[-1]
    assert issued["refresh_token"] and issued["access_token"]
    return issued


async def introspect(upstream: FakeOIDCUpstream, token: str) -> bool:
    async with httpx.AsyncClient(transport=upstream.transport()) as idp:
        response = await idp.post(upstream.idp.url("/introspect"), data={
            "token": token, "client_id": upstream.client_id,
            "client_secret": upstream.client_secret})
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def tokens_path(user_id: str, idp_user_id: str, provider: str = "oidc") -> str:
    return (f"users/{quote(user_id, safe='')}/identities/{provider}/"
            f"{quote(idp_user_id, safe='')}/tokens")


async def outbox_rows(broker: Broker) -> list[dict[str, Any]]:
    async with broker.runtime.store.engine.connect() as conn:
        rows = await conn.execute(sa.select(t.revocation_outbox).order_by(
            t.revocation_outbox.c.created_at))
        return [dict(r._mapping) for r in rows]


async def audit_types(broker: Broker) -> list[str]:
    return [row["type"] for row in reversed(await broker.runtime.store.list_audit(limit=500))]


async def assert_no_token_values(broker: Broker, *issued: dict[str, Any]) -> None:
    """Audit records, events and outbox rows hold no token, in any usual encoding."""
    dump = []
    async with broker.runtime.store.engine.connect() as conn:
        for table in (t.audit_log, t.event_outbox, t.revocation_outbox):
            dump += [repr(tuple(r)) for r in await conn.execute(sa.select(table))]
    text = "\n".join(dump)
    for body in issued:
        for key in ("access_token", "refresh_token"):
            raw = body[key].encode()
            for form in (raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"=")):
                assert form.decode() not in text, f"{key} leaked into storage"


async def stored_tokens_visible(broker: Broker, user_id: str) -> bool:
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    body = (await broker.user(user_id, reader)).json()
    return any(key in item for item in body["identities"] for key in TOKEN_KEYS)


# --- explicit revocation -----------------------------------------------------------------------


async def test_delete_tokens_revokes_upstream_and_hides_them_at_once(
        broker: Broker, acme: dict[str, Any]) -> None:
    issued = await signed_in(broker, acme)
    assert await stored_tokens_visible(broker, ALICE)
    revoker = await broker.mgmt_token(["delete:user_idp_tokens"])

    response = await broker.mgmt("DELETE", tokens_path(ALICE, "acme-oidc|alice"), token=revoker)
    assert response.status_code == 204, response.text
    assert response.headers["cache-control"] == "no-store"
    # Unreadable from the moment of the call, before the upstream has been asked anything.
    assert not await stored_tokens_visible(broker, ALICE)
    await revocation.settle()

    assert not await introspect(broker.upstream, issued["refresh_token"])
    assert not await introspect(broker.upstream, issued["access_token"])
    assert broker.upstream.calls["revoke"] == 2  # refresh token first, then access token
    [row] = await outbox_rows(broker)
    assert (row["status"], row["attempts"], row["reason"]) == ("done", 1, "api")
    assert row["tokens_sealed"] is None  # purged once revoked
    types = await audit_types(broker)
    assert "revoke_requested" in types and "sidp_revoke" in types
    await assert_no_token_values(broker, issued)

    # Again: nothing left to revoke, nothing queued, still 204.
    again = await broker.mgmt("DELETE", tokens_path(ALICE, "acme-oidc|alice"), token=revoker)
    assert again.status_code == 204
    await revocation.settle()
    assert len(await outbox_rows(broker)) == 1
    assert broker.upstream.calls["revoke"] == 2


async def test_post_tokens_answers_202_with_the_revocation_id(
        broker: Broker, acme: dict[str, Any]) -> None:
    issued = await signed_in(broker, acme)
    updater = await broker.mgmt_token(["update:users"])
    response = await broker.mgmt("POST", tokens_path(ALICE, "acme-oidc|alice"), token=updater)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["token_status"] == "revoked" and body["revocation_id"].startswith("rev_")
    await revocation.settle()
    [row] = await outbox_rows(broker)
    assert row["id"] == body["revocation_id"] and row["status"] == "done"
    assert not await introspect(broker.upstream, issued["access_token"])


async def test_revocation_endpoint_scopes_and_missing_objects(
        broker: Broker, acme: dict[str, Any]) -> None:
    issued = await signed_in(broker, acme)
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    for method in ("DELETE", "POST"):
        refused = await broker.mgmt(method, tokens_path(ALICE, "acme-oidc|alice"), token=reader)
        assert refused.status_code == 403, refused.text
        assert refused.json()["errorCode"] == "insufficient_scope"
    revoker = await broker.mgmt_token(["delete:user_idp_tokens"])
    missing = await broker.mgmt("DELETE", tokens_path(ALICE, "acme-oidc|nobody"), token=revoker)
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "inexistent_identity")
    nobody = await broker.mgmt("DELETE", tokens_path("oidc|acme-oidc|x", "acme-oidc|x"),
                               token=revoker)
    assert (nobody.status_code, nobody.json()["errorCode"]) == (404, "inexistent_user")
    assert await outbox_rows(broker) == []
    assert await introspect(broker.upstream, issued["access_token"])


# --- unlink and user deletion ------------------------------------------------------------------


async def test_unlink_revokes_the_secondary_identity_upstream(
        broker: Broker, acme: dict[str, Any]) -> None:
    await signed_in(broker, acme, "alice")
    bob = await signed_in(broker, acme, "bob")
    linked = await broker.mgmt("POST", f"users/{quote(ALICE, safe='')}/identities",
                               json={"provider": "oidc", "user_id": "acme-oidc|bob"})
    assert linked.status_code == 201, linked.text
    assert broker.upstream.calls["revoke"] == 0  # linking moves tokens, it revokes nothing

    bob_path = f"users/{quote(ALICE, safe='')}/identities/oidc/{quote('acme-oidc|bob', safe='')}"
    unlinked = await broker.mgmt("DELETE", bob_path)
    assert unlinked.status_code == 200, unlinked.text
    # The standalone user Bob becomes again never serves the tokens being revoked.
    assert not await stored_tokens_visible(broker, "oidc|acme-oidc|bob")
    assert await stored_tokens_visible(broker, ALICE)
    await revocation.settle()
    assert not await introspect(broker.upstream, bob["refresh_token"])
    assert not await introspect(broker.upstream, bob["access_token"])
    [row] = await outbox_rows(broker)
    assert (row["status"], row["reason"]) == ("done", "unlink")


async def test_user_deletion_is_revoked_upstream_by_the_job(
        broker: Broker, acme: dict[str, Any]) -> None:
    issued = await signed_in(broker, acme)
    deleted = await broker.mgmt("DELETE", f"users/{quote(ALICE, safe='')}")
    assert deleted.status_code == 204, deleted.text
    await revocation.settle()
    assert await revocation.process_due(broker.runtime) in (0, 1)
    assert not await introspect(broker.upstream, issued["refresh_token"])
    assert not await introspect(broker.upstream, issued["access_token"])
    assert [r["status"] for r in await outbox_rows(broker)] == ["done"]


async def test_a_crash_between_enqueue_and_attempt_loses_nothing(
        broker: Broker, acme: dict[str, Any], settings: Settings) -> None:
    issued = await signed_in(broker, acme)
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None
    async with broker.runtime.store.engine.begin() as conn:
        await enqueue_revocation(conn, broker.runtime.store.vault, user.identities[0], "test")
    # The process dies here: no immediate attempt ever ran. Another process starts later.
    async with httpx.AsyncClient(transport=RoutingTransport(
            {broker.upstream.host: broker.upstream.app})) as http:
        restarted = await Runtime.start(settings, http=http)
        try:
            assert await revocation.process_due(restarted) == 1
        finally:
            await restarted.close()
    assert not await introspect(broker.upstream, issued["refresh_token"])
    assert [r["status"] for r in await outbox_rows(broker)] == ["done"]


async def test_two_workers_claim_a_row_once(
        broker: Broker, acme: dict[str, Any]) -> None:
    await signed_in(broker, acme)
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None
    async with broker.runtime.store.engine.begin() as conn:
        outbox_id = await enqueue_revocation(conn, broker.runtime.store.vault,
                                             user.identities[0], "test")
    assert outbox_id is not None
    results = await asyncio.gather(*(revocation.process_one(broker.runtime, outbox_id)
                                     for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert broker.upstream.calls["revoke"] == 2
    assert await revocation.process_due(broker.runtime) == 0


# --- failures: backoff, Retry-After, giving up -----------------------------------------------


async def test_upstream_5xx_is_retried_with_backoff_then_given_up_with_an_event(
        broker: Broker, acme: dict[str, Any], flaky: FlakyRevocation) -> None:
    rt = broker.runtime
    rt.settings.revocation_give_up_after_s = 3600
    issued = await signed_in(broker, acme)
    flaky.status, flaky.retry_after = 503, "600"
    response = await broker.mgmt("POST", tokens_path(ALICE, "acme-oidc|alice"))
    assert response.status_code == 202  # the caller is not held up by the upstream's outage
    await revocation.settle()
    [row] = await outbox_rows(broker)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    first_retry = row["next_attempt_at"]
    assert first_retry >= row["updated_at"] + 600_000  # Retry-After honoured

    assert await revocation.process_due(rt, now=first_retry - 1) == 0  # not due yet
    flaky.retry_after = None
    delays = []
    when = first_retry
    for attempt in (2, 3):
        assert await revocation.process_due(rt, now=when) == 1
        [row] = await outbox_rows(broker)
        assert (row["status"], row["attempts"]) == ("pending", attempt)
        delays.append(row["next_attempt_at"] - when)
        when = row["next_attempt_at"]
    # Exponential with jitter: 30 s · 2^(n-1), scaled by a random factor in [0.5, 1].
    assert 30_000 <= delays[0] <= 60_000 and 60_000 <= delays[1] <= 120_000

    deadline = row["created_at"] + 3600_000
    assert await revocation.process_due(rt, now=deadline) == 1
    [row] = await outbox_rows(broker)
    assert (row["status"], row["tokens_sealed"]) == ("given_up", None)
    assert row["last_error"] == "refresh_token: HTTP 503"
    async with rt.store.engine.connect() as conn:
        events = [dict(e._mapping) for e in await conn.execute(sa.select(t.event_outbox).where(
            t.event_outbox.c.type == REVOCATION_FAILED))]
    assert len(events) == 1 and events[0]["data"]["user_id"] == ALICE
    assert events[0]["data"]["attempts"] == 4
    types = await audit_types(broker)
    assert types.count("fidp_revoke") == 3 and types.count("fidp_revoke_given_up") == 1
    # Given up is final: the upstream healing later changes nothing.
    flaky.status = None
    assert await revocation.process_due(rt, now=deadline + 10**9) == 0
    assert await introspect(broker.upstream, issued["refresh_token"])
    await assert_no_token_values(broker, issued)


async def test_a_later_attempt_succeeds_after_an_outage(
        broker: Broker, acme: dict[str, Any], flaky: FlakyRevocation) -> None:
    issued = await signed_in(broker, acme)
    flaky.status = 502
    assert (await broker.mgmt("DELETE", tokens_path(ALICE, "acme-oidc|alice"))).status_code == 204
    await revocation.settle()
    [row] = await outbox_rows(broker)
    assert row["status"] == "pending"
    assert await introspect(broker.upstream, issued["refresh_token"])  # honest: still live
    flaky.status = None
    assert await revocation.process_due(broker.runtime, now=row["next_attempt_at"]) == 1
    assert not await introspect(broker.upstream, issued["refresh_token"])
    assert [r["status"] for r in await outbox_rows(broker)] == ["done"]


# --- oauth2 connections ------------------------------------------------------------------------


async def oauth2_login(broker: Broker, **options: Any) -> dict[str, Any]:
    app = await broker.web_app()
    idp = broker.upstream
    response = await broker.mgmt("POST", "connections", json={
        "name": "acme-oauth2", "strategy": "oauth2", "enabled_clients": [app["client_id"]],
        "options": {"client_id": idp.client_id, "client_secret": idp.client_secret,
                    "authorizationURL": idp.idp.url("/authorize"),
                    "tokenURL": idp.idp.url("/token"), "profileURL": idp.idp.url("/userinfo"),
                    "profile_map": {"user_id": "sub"},
                    "scope": "openid profile email offline_access", **options}})
    assert response.status_code == 201, response.text
    assert (await broker.exchange(app, await broker.login(app, connection="acme-oauth2"))
            ).status_code == 200
    return broker.upstream.issued[-1]


async def test_oauth2_connection_uses_its_configured_revocation_url(broker: Broker) -> None:
    issued = await oauth2_login(broker, revocationURL=broker.upstream.idp.url("/revoke"),
                                revocation_auth="client_secret_basic")
    response = await broker.mgmt("DELETE", tokens_path("oauth2|acme-oauth2|alice",
                                                       "acme-oauth2|alice", "oauth2"))
    assert response.status_code == 204, response.text
    await revocation.settle()
    assert not await introspect(broker.upstream, issued["access_token"])
    assert [r["status"] for r in await outbox_rows(broker)] == ["done"]


async def test_a_connection_that_cannot_revoke_closes_the_row_and_says_so(
        broker: Broker) -> None:
    issued = await oauth2_login(broker)
    response = await broker.mgmt("DELETE", tokens_path("oauth2|acme-oauth2|alice",
                                                       "acme-oauth2|alice", "oauth2"))
    assert response.status_code == 204
    await revocation.settle()
    [row] = await outbox_rows(broker)
    assert (row["status"], row["tokens_sealed"]) == ("unsupported", None)
    assert "idp_revoke_unsupported" in await audit_types(broker)
    assert broker.upstream.calls["revoke"] == 0
    assert await introspect(broker.upstream, issued["access_token"])
    assert not await stored_tokens_visible(broker, "oauth2|acme-oauth2|alice")


async def test_revoke_validates_oauth2_revocation_options(broker: Broker) -> None:
    app = await broker.web_app()
    idp = broker.upstream
    response = await broker.mgmt("POST", "connections", json={
        "name": "bad-oauth2", "strategy": "oauth2", "enabled_clients": [app["client_id"]],
        "options": {"client_id": "x", "client_secret": "y",
                    "authorizationURL": idp.idp.url("/authorize"),
                    "tokenURL": idp.idp.url("/token"), "profileURL": idp.idp.url("/userinfo"),
                    "revocation_auth": "private_key_jwt"}})
    assert response.status_code == 400, response.text
    assert "revocation_auth" in response.json()["message"]



async def test_a_shutdown_waits_for_the_revocation_a_delete_started(
        broker: Broker, acme: dict[str, Any], upstream: FakeOIDCUpstream) -> None:
    """A server stopping right after answering a DELETE of IdP tokens still revokes them
    upstream before its store closes, instead of leaving the attempt cut off mid-call."""
    issued = await signed_in(broker, acme)
    revoker = await broker.mgmt_token(["delete:user_idp_tokens"])
    slow = SlowRevocation(upstream.app)
    http = httpx.AsyncClient(transport=RoutingTransport({upstream.host: slow}))
    # A server of its own, whose runtime its lifespan starts and closes, on the same store.
    server = create_app(broker.runtime.settings, http=http)
    lifespan = Lifespan(server)
    await lifespan.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server),
                                 base_url=ISSUER) as client:
        response = await client.delete(f"/api/v2/{tokens_path(ALICE, 'acme-oidc|alice')}",
                                       headers={"Authorization": f"Bearer {revoker}"})
    assert response.status_code == 204, response.text
    await slow.started.wait()  # the upstream call is in flight
    await lifespan.stop()
    await http.aclose()
    assert not await introspect(upstream, issued["refresh_token"])
    assert not await introspect(upstream, issued["access_token"])
    [row] = await outbox_rows(broker)
    assert (row["status"], row["attempts"]) == ("done", 1)


class SlowRevocation:
    """The fake upstream, its /revoke answering only after 0.3 s."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.started = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/revoke":
            self.started.set()
            await asyncio.sleep(0.3)
        await self.app(scope, receive, send)


class Lifespan:
    """The ASGI lifespan protocol, driven as a server drives it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.ensure_future(self.app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        assert (await self.outbox.get())["type"] == "lifespan.startup.complete"

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        assert (await self.outbox.get())["type"] == "lifespan.shutdown.complete"
        assert self.task is not None
        await self.task
