"""The fast lane (http/fast_lane.py) answers exactly as the full stack does, and only the
requests it may: every request here goes once through an app with the lane and once through
one without it, on the same runtime, and the two answers are compared whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from idbroker.http.app import create_app
from idbroker.http.fast_lane import LaneStats
from idbroker.vault.records import TokenSet, UpstreamProfile
from tests.support import ISSUER, Broker

MGMT = f"{ISSUER}api/v2/"
# Headers whose value legitimately differs between two answers to the same request.
VOLATILE_HEADERS = {"x-ratelimit-remaining", "x-ratelimit-reset"}


@pytest.fixture
async def full_stack(broker: Broker) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=broker.runtime, fast_lane=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=ISSUER) as http:
        yield http


def _lane_stats(broker: Broker) -> LaneStats:
    transport = broker.http._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.fast_lane  # type: ignore[attr-defined, no-any-return]


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, "…" if k in VOLATILE_HEADERS else v) for k, v in response.headers.multi_items()]


async def _both(broker: Broker, full: httpx.AsyncClient, method: str, path: str,
                **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
    lane = await broker.http.request(method, path, **kwargs)
    plain = await full.request(method, path, **kwargs)
    assert lane.status_code == plain.status_code, (lane.text, plain.text)
    assert _headers(lane) == _headers(plain)
    return lane, plain


async def _user_with_tokens(broker: Broker) -> str:
    store = broker.runtime.store
    connection = await store.get_connection_by_name("acme-oidc")
    assert connection is not None
    return await store.record_login(
        connection=connection, provider="oidc", issuer=broker.upstream.issuer, subject="lane",
        idp_user_id="acme-oidc|lane", is_social=False,
        profile=UpstreamProfile(email="lane@example.test", email_verified=True, name="Zoë",
                                extra={"locale": "fr"}),
        tokens=TokenSet(access_token="at-lane-canary", refresh_token="rt-lane-canary",
                        expires_at=4_000_000_000, scope=["openid", "email"]),
        ip="127.0.0.1")


async def test_user_read_is_the_full_stacks_answer(broker: Broker,
                                                   full_stack: httpx.AsyncClient) -> None:
    await broker.oidc_connection([])
    user_id = await _user_with_tokens(broker)
    path = f"/api/v2/users/{quote(user_id, safe='')}"
    stats = _lane_stats(broker)
    for scopes in (["read:users", "read:user_idp_tokens"], ["read:users"]):
        token = await broker.mgmt_token(scopes)
        before = stats.reads
        lane, plain = await _both(broker, full_stack, "GET", path,
                                  headers={"Authorization": f"Bearer {token}"})
        assert lane.status_code == 200
        assert stats.reads == before + 1  # the lane answered it, not the full stack
        body, expected = lane.json(), plain.json()
        assert body == expected
        tokens_shown = "read:user_idp_tokens" in scopes
        assert ("access_token" in body["identities"][0]) is tokens_shown
        assert ("at-lane-canary" in lane.text) is tokens_shown
    # Each read of IdP tokens is audited, whichever way it was answered.
    rows = await broker.runtime.store.list_audit(user_id=user_id)
    assert [r["type"] for r in rows].count("mgmt_api_read") == 2


async def test_token_is_the_full_stacks_answer(broker: Broker,
                                               full_stack: httpx.AsyncClient) -> None:
    client_id, secret = await broker.m2m_client(["read:users"])
    stats = _lane_stats(broker)
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret, "audience": MGMT}
    for kwargs in ({"data": form}, {"json": form}):
        before = stats.tokens
        lane, plain = await _both(broker, full_stack, "POST", "/oauth/token", **kwargs)
        assert lane.status_code == 200, lane.text
        assert stats.tokens == before + 1
        body, expected = lane.json(), plain.json()
        assert body.keys() == expected.keys()
        assert {k: body[k] for k in ("token_type", "expires_in", "scope")} == \
            {k: expected[k] for k in ("token_type", "expires_in", "scope")}
        # The token works where a full-stack token works.
        read = await broker.http.get("/api/v2/users",
                                     headers={"Authorization": f"Bearer {body['access_token']}"})
        assert read.status_code == 200


async def test_an_unknown_user_is_answered_the_same(broker: Broker,
                                                   full_stack: httpx.AsyncClient) -> None:
    token = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    lane, plain = await _both(broker, full_stack, "GET", "/api/v2/users/oidc%7Cnobody",
                              headers={"Authorization": f"Bearer {token}"})
    assert lane.status_code == 404
    assert lane.json() == plain.json()


@pytest.mark.parametrize("case", ["no token", "bad token", "two tokens", "query", "nul",
                                  "no scope", "basic"])
async def test_what_the_lane_leaves_to_the_full_stack(broker: Broker,
                                                      full_stack: httpx.AsyncClient,
                                                      case: str) -> None:
    await broker.oidc_connection([])
    user_id = await _user_with_tokens(broker)
    token = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    weak = await broker.mgmt_token(["read:clients"])
    path = f"/api/v2/users/{quote(user_id, safe='')}"
    headers: list[tuple[str, str]] = [("Authorization", f"Bearer {token}")]
    if case == "no token":
        headers = []
    elif case == "bad token":
        headers = [("Authorization", f"Bearer {token[:-4]}AAAA")]
    elif case == "two tokens":
        headers.append(("Authorization", f"Bearer {token}"))
    elif case == "query":
        path += "?fields=user_id,identities&include_fields=true"
    elif case == "nul":
        path += "%00"
    elif case == "no scope":
        headers = [("Authorization", f"Bearer {weak}")]
    elif case == "basic":
        headers = [("Authorization", "Basic Zm9vOmJhcg==")]
    stats = _lane_stats(broker)
    before = stats.reads
    lane, plain = await _both(broker, full_stack, "GET", path, headers=headers)
    assert stats.reads == before
    if case == "query":
        assert lane.status_code == 200 and lane.json() == plain.json()
        assert set(lane.json()) == {"user_id", "identities"}
    else:
        assert lane.status_code >= 400 and lane.json() == plain.json()


@pytest.mark.parametrize("case", ["wrong secret", "unknown audience", "other grant",
                                  "cors", "no grant type", "bad form"])
async def test_token_requests_the_lane_leaves_or_refuses_alike(
        broker: Broker, full_stack: httpx.AsyncClient, case: str) -> None:
    client_id, secret = await broker.m2m_client(["read:users"])
    form: dict[str, str] = {"grant_type": "client_credentials", "client_id": client_id,
                            "client_secret": secret, "audience": MGMT}
    headers: dict[str, str] = {}
    content: bytes | None = None
    if case == "wrong secret":
        form["client_secret"] = "x" * len(secret)
    elif case == "unknown audience":
        form["audience"] = "https://api.unknown.test/"
    elif case == "other grant":
        form = {**form, "grant_type": "refresh_token", "refresh_token": "nope"}
    elif case == "cors":
        headers["Origin"] = "https://app.example.test"
    elif case == "no grant type":
        del form["grant_type"]
    elif case == "bad form":
        content = b"grant_type=client_credentials&\xff\xfe=1"
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    stats = _lane_stats(broker)
    before = stats.tokens
    kwargs: dict[str, Any] = {"headers": headers}
    if content is not None:
        kwargs["content"] = content
    else:
        kwargs["data"] = form
    lane, plain = await _both(broker, full_stack, "POST", "/oauth/token", **kwargs)
    assert stats.tokens == before
    if case == "cors":
        assert lane.status_code == 200
        assert lane.json().keys() == plain.json().keys()
    else:
        assert lane.status_code >= 400 and lane.json() == plain.json(), lane.text
    # A refused client authentication is recorded once per request, not once per layer.
    if case == "wrong secret":
        rows = await broker.runtime.store.list_audit()
        assert [r["type"] for r in rows].count("feccft") == 2


async def test_rate_limits_apply_in_the_lane(broker: Broker) -> None:
    """With rate limits on (the default), the lane counts each request in the same bucket the
    full stack would, sends the same headers, and refuses over the limit the same way."""
    settings = broker.runtime.settings
    assert settings.rate_limits.enabled
    client_id, secret = await broker.m2m_client(["read:users"])
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret, "audience": MGMT}
    first = await broker.http.post("/oauth/token", data=form)
    second = await broker.http.post("/oauth/token", data=form)
    assert first.status_code == second.status_code == 200
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in (first, second)]
    if first.headers["x-ratelimit-reset"] == second.headers["x-ratelimit-reset"]:
        assert remaining[1] == remaining[0] - 1
