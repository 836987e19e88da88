"""Real-HTTP interop fixtures: the fake upstream OIDC provider and idbroker, each served by
uvicorn on its own loopback port from a background thread (with its own event loop), so that
unmodified client SDKs (auth0-python's ``requests``-based Authentication API classes and its
``httpx``-based v6 Management client) talk to the broker exactly as they would in production.

The stack is built once per test module. With ``IDBROKER_TEST_DATABASE_URL`` set, the
PostgreSQL database is emptied first, the same way ``tests/conftest.py`` does it."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from idbroker.bootstrap import initialise
from idbroker.encoding import b64url_encode
from idbroker.http.app import create_app
from idbroker.settings import Settings
from tests import conftest as root_conftest
from tests.fakes.oidc_upstream import FakeOIDCUpstream

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def _bound_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port. Handing the bound socket itself to
    uvicorn (instead of just its port number) leaves no window for another process to take
    the port between picking it and serving on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def _free_port() -> int:
    """A port nothing listens on (the app's own callback host is never contacted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """``uvicorn.Server(config).run`` in a daemon thread; ``start`` waits for ``started``."""

    def __init__(self, app: Any, sock: socket.socket, name: str) -> None:
        self.sock = sock
        config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="on",
                                loop="asyncio", http="h11", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{name}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # surfaced by start()/stop()
            self.error = exc

    def start(self) -> None:
        self.thread.start()
        # Wait on the thread rather than sleeping: join() returns as soon as it dies, and
        # `started` flips once the lifespan has completed and the socket is listening.
        waited = 0.0
        while not self.server.started:
            self.thread.join(0.01)
            waited += 0.01
            if not self.thread.is_alive():
                raise RuntimeError(f"{self.thread.name} exited during start-up") from self.error
            if waited > START_TIMEOUT_S:
                self.stop()
                raise RuntimeError(f"{self.thread.name} did not start in {START_TIMEOUT_S}s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STOP_TIMEOUT_S)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError(f"{self.thread.name} did not stop in {STOP_TIMEOUT_S}s")


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
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database_url = os.environ.get("IDBROKER_TEST_DATABASE_URL")
    if database_url:
        # The root conftest keeps "migrated once" as module-global state; go through the
        # module so that flag is shared with the other test packages in the same session.
        asyncio.run(root_conftest._reset_postgres(database_url))

    upstream_sock, broker_sock = _bound_socket(), _bound_socket()
    upstream_port = upstream_sock.getsockname()[1]
    broker_port = broker_sock.getsockname()[1]
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    base_url = f"http://127.0.0.1:{broker_port}"
    data_dir: Path = tmp_path_factory.mktemp("interop") / "data"

    settings = Settings(issuer=f"{base_url}/", data_dir=data_dir, database_url=database_url,
                        vault_key=b64url_encode(secrets.token_bytes(32)), upstream_timeout=5.0)
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
                    app_callback=f"http://127.0.0.1:{_free_port()}/callback",
                    bootstrap_client_id=init.client_id,
                    bootstrap_client_secret=init.client_secret)
    finally:
        try:
            broker_server.stop()
        finally:
            upstream_server.stop()
