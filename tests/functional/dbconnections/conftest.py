"""Database-connection tests: a cheaper argon2id cost (the cost itself is asserted in
test_hashing.py), and helpers to create a connection and its users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from idbroker.settings import Settings
from tests.support import APP_CALLBACK, ISSUER, Broker

ORIGIN = ISSUER.rstrip("/")
APP_ORIGIN = "https://app.example.test"
PASSWORD = "Correct-Horse-9"


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    settings.password_hash_memory_kib = 1024
    settings.password_hash_time_cost = 1
    return settings


async def database_connection(broker: Broker, enabled: list[str], name: str = "Users",
                              **options: Any) -> dict[str, Any]:
    response = await broker.mgmt("POST", "connections", json={
        "name": name, "strategy": "auth0", "enabled_clients": enabled, "options": options})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def app(broker: Broker) -> dict[str, Any]:
    return await broker.web_app(web_origins=[APP_ORIGIN])


@pytest.fixture
async def db(broker: Broker, app: dict[str, Any]) -> dict[str, Any]:
    return await database_connection(broker, [app["client_id"]], passwordPolicy="fair")


async def signup(broker: Broker, app: dict[str, Any], email: str = "jane@example.com",
                 password: str = PASSWORD, connection: str = "Users",
                 **extra: Any) -> httpx.Response:
    return await broker.http.post("/dbconnections/signup", json={
        "client_id": app["client_id"], "email": email, "password": password,
        "connection": connection, **extra})


async def co_authenticate(http: httpx.AsyncClient, app: dict[str, Any], username: str,
                          password: str, realm: str = "Users",
                          origin: str | None = APP_ORIGIN) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    return await http.post("/co/authenticate", headers=headers, json={
        "client_id": app["client_id"], "username": username, "password": password,
        "realm": realm, "credential_type": "http://auth0.com/oauth/grant-type/password-realm"})


def client_at(broker: Broker, ip: str) -> httpx.AsyncClient:
    """Another browser, at another address, on the same broker."""
    transport = httpx.ASGITransport(app=broker.http._transport.app,  # type: ignore[attr-defined]
                                    client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


@pytest.fixture
async def elsewhere(broker: Broker) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(broker, "198.51.100.7") as http:
        yield http


def outbox(broker: Broker) -> list[Message]:
    folder: Path = broker.runtime.settings.data_dir / "outbox"
    if not folder.exists():
        return []
    return [message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def link_in(message: Message, path: str) -> str:
    text = message.get_payload(decode=True).decode()
    line = next(w for w in text.split() if w.startswith(f"{ISSUER}{path}"))
    return line


def ticket_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["ticket"][0]


def app_redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(APP_CALLBACK), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
