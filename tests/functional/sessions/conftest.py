"""Fixtures for login-session tests: two first-party apps and one third-party app sharing
the fake upstream's connection, a browser-like session helper and a movable clock."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import idbroker.clock
from idbroker.oauth.sessions import SESSION_COOKIE
from tests.support import APP_CALLBACK, Broker, LoginResult, query_of

WEB_ORIGIN = "https://app.example.test"


@dataclass
class Apps:
    first: dict[str, Any]        # first-party web app
    second: dict[str, Any]       # another first-party app (a SPA, public)
    third_party: dict[str, Any]  # is_first_party false: needs consent


@pytest.fixture
async def apps(broker: Broker) -> Apps:
    first = await broker.web_app(web_origins=[WEB_ORIGIN])
    second = await broker.web_app(app_type="spa", web_origins=[WEB_ORIGIN])
    third = await broker.web_app(is_first_party=False)
    await broker.oidc_connection([first["client_id"], second["client_id"], third["client_id"]])
    return Apps(first, second, third)


class Clock:
    """Moves ``idbroker.clock`` forward, so session expiry is tested without sleeping."""

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


def session_value(broker: Broker) -> str | None:
    return broker.http.cookies.get(SESSION_COOKIE)


async def silent(broker: Broker, client: dict[str, Any], connection: str | None = None,
                 **extra: str) -> httpx.Response:
    """/authorize as the same browser, keeping its login session (no connection named)."""
    params, _, _ = broker.authorize_params(client, connection=connection, **extra)
    return await broker.start(params, keep_session=True)


async def sso(broker: Broker, client: dict[str, Any], connection: str | None = None,
              **extra: str) -> LoginResult:
    """An /authorize the session answers at once: the app gets its code directly."""
    params, verifier, nonce = broker.authorize_params(client, connection=connection, **extra)
    response = await broker.start(params, keep_session=True)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(APP_CALLBACK + "?"), location
    result = query_of(location)
    assert "code" in result, result
    assert result["state"] == params["state"]
    return LoginResult(location, result, verifier, nonce)


async def id_token_claims(broker: Broker, client: dict[str, Any],
                          login: LoginResult) -> dict[str, Any]:
    response = await broker.exchange(client, login)
    assert response.status_code == 200, response.text
    return unverified(response.json()["id_token"])


def unverified(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
