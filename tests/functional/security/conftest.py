"""Shared fixtures and helpers for the authorization-server (B) and upstream-callback (C)
attack tests: a confidential web app, a public SPA and a public native app, all enabled on
the fake upstream's "acme-oidc" connection; a controllable clock; row counters for the
"nothing was minted / persisted" assertions."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

import idbroker.clock
from idbroker.vault import schema
from tests.support import APP_CALLBACK, ISSUER, Broker, query_of

ALICE = "oidc|acme-oidc|alice"
CONNECTION = "acme-oidc"


@dataclass
class Apps:
    web: dict[str, Any]      # regular_web, client_secret_post: confidential
    spa: dict[str, Any]      # token_endpoint_auth_method none: public
    native: dict[str, Any]   # token_endpoint_auth_method none: public


@pytest.fixture
async def apps(broker: Broker) -> Apps:
    web = await broker.web_app()
    spa = await broker.web_app(app_type="spa")
    native = await broker.web_app(app_type="native")
    await broker.oidc_connection([web["client_id"], spa["client_id"], native["client_id"]])
    return Apps(web=web, spa=spa, native=native)


class Clock:
    """Moves ``idbroker.clock`` (and only it) forward, so expiry is tested without sleeping.
    The fake upstream and the test client's cookie jar keep real time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    real = time.time
    c = Clock()
    monkeypatch.setattr(idbroker.clock, "time", SimpleNamespace(time=lambda: real() + c.offset))
    yield c


async def count_rows(broker: Broker, table: sa.Table) -> int:
    async with broker.runtime.store.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def minted(broker: Broker) -> dict[str, int]:
    """How many login transactions, codes, grants and refresh tokens exist."""
    return {name: await count_rows(broker, table) for name, table in (
        ("login_transactions", schema.login_transactions),
        ("authorization_codes", schema.authorization_codes),
        ("grants", schema.grants),
        ("refresh_tokens", schema.refresh_tokens),
    )}


async def authorize_raw(broker: Broker, pairs: list[tuple[str, str]]) -> httpx.Response:
    """GET /authorize with exactly these (possibly repeated) query parameters."""
    return await broker.http.get("/authorize?" + urlencode(pairs))


def error_page_problem(response: httpx.Response, status: int = 400) -> str | None:
    """What is wrong with a response that should be our own error page (None: nothing)."""
    if response.status_code != status:
        return f"status {response.status_code} location={response.headers.get('location')!r}"
    if "location" in response.headers:
        return f"Location {response.headers['location']!r}"
    if not response.headers.get("content-type", "").startswith("text/html"):
        return f"content-type {response.headers.get('content-type')!r}"
    return None


def app_error_problem(response: httpx.Response, error: str, state: str | None,
                      redirect_uri: str = APP_CALLBACK) -> str | None:
    """What is wrong with a response that should be an error redirect to the app."""
    try:
        assert_app_error(response, error, state, redirect_uri)
    except AssertionError as exc:
        return f"{response.status_code} {response.headers.get('location')!r}: {exc}"
    return None


def assert_error_page(response: httpx.Response, status: int = 400) -> None:
    """RFC 6749 §4.1.2.1: an untrusted client/redirect gets our own page, never a redirect."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def assert_app_error(response: httpx.Response, error: str, state: str | None,
                     redirect_uri: str = APP_CALLBACK) -> dict[str, str]:
    """An error sent back to the app's registered redirect URI with its state and our iss."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    params = query_of(location)
    assert params.get("error") == error, params
    assert params.get("iss") == ISSUER
    assert "code" not in params
    if state is None:
        assert "state" not in params
    else:
        assert params.get("state") == state
    return params


def is_upstream_redirect(response: httpx.Response, broker: Broker) -> bool:
    if response.status_code != 302:
        return False
    target = urlsplit(response.headers["location"])
    return f"{target.scheme}://{target.netloc}" == broker.upstream.issuer


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def token_request(broker: Broker, body: dict[str, str],
                        headers: dict[str, str] | None = None) -> httpx.Response:
    return await broker.http.post("/oauth/token", data=body, headers=headers or {})


async def refresh(broker: Broker, client: dict[str, Any], refresh_token: str) -> httpx.Response:
    body = {"grant_type": "refresh_token", "client_id": client["client_id"],
            "refresh_token": refresh_token}
    if client.get("client_secret"):
        body["client_secret"] = client["client_secret"]
    return await token_request(broker, body)


async def userinfo(broker: Broker, access_token: str) -> httpx.Response:
    return await broker.http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def assert_oauth_error(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"] == "no-store"
    assert "access_token" not in response.json()

