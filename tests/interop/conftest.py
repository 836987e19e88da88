"""Real-HTTP interop fixtures: the fake upstream OIDC provider and idbroker, each served by
uvicorn on its own loopback port from a background thread (with its own event loop), so that
unmodified client SDKs (auth0-python's ``requests``-based Authentication API classes and its
``httpx``-based v6 Management client) talk to the broker exactly as they would in production.

The stack is built once per test module. With ``IDBROKER_TEST_DATABASE_URL`` set, the
PostgreSQL database is emptied first, the same way ``tests/conftest.py`` does it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from idbroker.bootstrap import initialise
from idbroker.http.app import create_app
from idbroker.settings import Settings
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.interop.servers import ServerThread, bound_socket, broker_settings, free_port


@dataclass(frozen=True)
class Stack:
    """Everything a test needs to reach the running servers."""

    settings: Settings
    upstream: FakeOIDCUpstream
    #: ``127.0.0.1:<port>``: what auth0-python calls the tenant ``domain``.
    domain: str
    #: ``http://127.0.0.1:<port>``, no trailing slash.
    base_url: str
    #: The broker's ``iss``, ``http://127.0.0.1:<port>/``.
    issuer: str
    upstream_url: str
    #: Where the relying party's callback would live; nothing listens there.
    app_callback: str
    bootstrap_client_id: str
    bootstrap_client_secret: str

    @property
    def management_base_url(self) -> str:
        """For the v6 client: ``Auth0(base_url=...)``."""
        return f"{self.base_url}/api/v2"

    @property
    def management_audience(self) -> str:
        return f"{self.issuer}api/v2/"

    @property
    def https_management_audience(self) -> str:
        """The audience auth0-python users conventionally spell (§1.1 / §7 of the spec)."""
        return f"https://{self.domain}/api/v2/"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, Any]:
    """Settings overrides for the module's broker; a module overrides this fixture (e.g. to
    set tight rate limits)."""
    return {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory,
          stack_settings: dict[str, Any]) -> Iterator[Stack]:
    upstream_sock, broker_sock = bound_socket(), bound_socket()
    upstream_port = upstream_sock.getsockname()[1]
    broker_port = broker_sock.getsockname()[1]
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    base_url = f"http://127.0.0.1:{broker_port}"
    data_dir: Path = tmp_path_factory.mktemp("interop") / "data"

    settings = broker_settings(base_url, data_dir, **stack_settings)
    upstream = FakeOIDCUpstream(issuer=upstream_url,
                                redirect_uris=[f"{base_url}/login/callback"])
    init = asyncio.run(initialise(settings))
    assert init.client_secret is not None, "bootstrap client already existed: DB not empty"

    upstream_server = ServerThread(upstream.app, upstream_sock, "upstream")
    broker_server = ServerThread(create_app(settings), broker_sock, "idbroker")
    upstream_server.start()
    try:
        broker_server.start()
    except BaseException:
        upstream_server.stop()
        raise
    try:
        yield Stack(settings=settings, upstream=upstream, domain=f"127.0.0.1:{broker_port}",
                    base_url=base_url, issuer=f"{base_url}/", upstream_url=upstream_url,
                    app_callback=f"http://127.0.0.1:{free_port()}/callback",
                    bootstrap_client_id=init.client_id,
                    bootstrap_client_secret=init.client_secret)
    finally:
        try:
            broker_server.stop()
        finally:
            upstream_server.stop()
