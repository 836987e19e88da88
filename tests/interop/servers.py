"""uvicorn servers on loopback for the tests that need real HTTP (SDK interop, schemathesis):
each app is served from a background thread with its own event loop, on a socket bound before
the server starts. Also: a fresh database and broker settings, as tests/conftest.py makes them."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from idbroker.encoding import b64url_encode
from idbroker.settings import Settings
from tests import conftest as root_conftest

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def bound_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port. Handing the bound socket itself to
    uvicorn (instead of just its port number) leaves no window for another process to take
    the port between picking it and serving on it."""
    # proto=IPPROTO_TCP, not the default 0: asyncio disables Nagle only on sockets whose proto
    # says TCP, and with Nagle on, every response written in two parts (headers, body) waits
    # ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def free_port() -> int:
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


def fresh_database() -> str | None:
    """The PostgreSQL URL under test, emptied (None: SQLite in the data dir)."""
    database_url = os.environ.get("IDBROKER_TEST_DATABASE_URL")
    if database_url:
        # The root conftest keeps "migrated once" as module-global state; go through the
        # module so that flag is shared with the other test packages in the same session.
        asyncio.run(root_conftest._reset_postgres(database_url))
    return database_url


def broker_settings(base_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(issuer=f"{base_url}/", data_dir=data_dir, database_url=fresh_database(),
                    vault_key=b64url_encode(secrets.token_bytes(32)), upstream_timeout=5.0,
                    **overrides)
