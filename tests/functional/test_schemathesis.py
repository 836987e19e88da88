"""Schemathesis against the published OpenAPI document: every Management API operation, with
generated valid and invalid requests, authenticated with a bootstrap token holding every
scope. A response fails the run when it is a 5xx, has a status the document does not list for
the operation, another content type, a body that violates the documented schema, or lacks a
documented required header (e.g. WWW-Authenticate on 401).

The operations come from the document the app serves, so endpoints added by anyone are fuzzed
as soon as their module is registered in http/app.py. The server is real uvicorn on loopback
(a thread with its own event loop, as the interop tests do), on SQLite or on the PostgreSQL of
IDBROKER_TEST_DATABASE_URL. Generation is derandomized and bounded, so the run is repeatable
and takes well under a minute on two cores."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from idbroker.bootstrap import initialise
from idbroker.http import openapi
from idbroker.http.app import create_app  # importing the app registers every operation
from idbroker.settings import RateLimit, RateLimits
from tests.interop.servers import ServerThread, bound_socket, broker_settings

# ignored_auth: on the first success of each operation, the same request without a token
# and with a made-up one must be refused.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, ignored_auth]

# The document does not depend on the server's address except for `servers`; each call is
# sent to the live server's base URL instead.
DOCUMENT = openapi.document("http://127.0.0.1")
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    # NUL characters are generated too: they are refused with a 400 before any query runs
    # (PostgreSQL cannot store them), which this run checks on both stores.
    config=schemathesis.Config.from_dict({"generation": {
        "mode": "all", "database": "none", "allow-x00": True}}),
)
# The time goes into generating and sending requests, about linearly in operations x examples
# (the coverage phase adds a fixed set per operation): a total budget keeps the run near a
# minute as operations are added, with a floor so that each still gets a real fuzz.
OPERATION_COUNT = sum(len(item) for item in DOCUMENT["paths"].values())
EXAMPLES_PER_OPERATION = max(8, min(25, 700 // OPERATION_COUNT))
STATEFUL_SCENARIOS = 40


@dataclass(frozen=True)
class Live:
    base_url: str
    token: str
    session: requests.Session
    bootstrap_client_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def token_kid(self) -> str:
        header = self.token.split(".")[0]
        return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    sock = bound_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # A few thousand requests a minute from one client: more than the default Management
    # limit allows, and every 429 would be a request that tested nothing.
    limits = RateLimits(groups={"management": RateLimit(limit=1_000_000, window=60)})
    cfg = broker_settings(base_url, tmp_path_factory.mktemp("schemathesis") / "data",
                          rate_limits=limits)
    init = asyncio.run(initialise(cfg))
    assert init.client_secret is not None
    server = ServerThread(create_app(cfg), sock, "idbroker-schemathesis")
    server.start()
    try:
        answer = httpx.post(f"{base_url}/oauth/token", timeout=10, json={
            "grant_type": "client_credentials", "client_id": init.client_id,
            "client_secret": init.client_secret, "audience": cfg.management_audience})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        granted = set(body["scope"].split(" "))
        needed = {scope for path in openapi.document(base_url)["paths"].values()
                  for op in path.values() for req in op["security"] for scope in next(
                      iter(req.values()))}
        # A scope an operation needs but the bootstrap client lacks would turn the whole run
        # into a wall of 403s that "conform" to the document and test nothing.
        assert needed <= granted, sorted(needed - granted)
        with requests.Session() as session:
            yield Live(base_url=base_url, token=body["access_token"], session=session,
                       bootstrap_client_id=init.client_id)
    finally:
        server.stop()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), database=None)
def test_management_api_conforms_to_its_document(case: schemathesis.Case, live: Live) -> None:
    case.call_and_validate(base_url=live.base_url, session=live.session, headers=live.headers,
                           checks=CHECKS, timeout=10)


def cuts_the_branch_it_sits_on(case: schemathesis.Case, live: Live) -> bool:
    """The only requests the stateful run must not send: they would invalidate the token every
    later request authenticates with, and the rest of the run would test nothing but 401s.
    (Links from GET /clients and GET /keys/signing hand these real ids to the run.)"""
    ident = (case.path_parameters or {})
    return ((case.method.upper() == "DELETE" and case.path == "/api/v2/clients/{id}"
             and ident.get("id") == live.bootstrap_client_id)
            or (case.path == "/api/v2/keys/signing/{kid}/revoke"
                and ident.get("kid") == live.token_kid))


Workflow = schema.as_state_machine()


def reset_to_bootstrap(live: Live) -> None:
    """Every scenario starts from the same state. Hypothesis replays a choice sequence and
    expects the same rules to be enabled; a user, connection or API left by an earlier
    scenario would turn the same POST into a 409 and the run into a FlakyStrategyDefinition."""
    def each(path: str) -> list[dict[str, Any]]:
        answer = live.session.get(f"{live.base_url}/api/v2/{path}", headers=live.headers,
                                  params={"per_page": 100}, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body if isinstance(body, list) else next(v for v in body.values()
                                                        if isinstance(v, list))

    def delete(path: str) -> None:
        answer = live.session.delete(f"{live.base_url}/api/v2/{path}", headers=live.headers,
                                     timeout=10)
        assert answer.status_code in (200, 202, 204, 404), answer.text

    while users := each("users"):
        for user in users:
            delete(f"users/{quote(user['user_id'], safe='')}")
    for connection in each("connections"):
        delete(f"connections/{connection['id']}")
    for server in each("resource-servers"):
        if not server.get("is_system"):
            delete(f"resource-servers/{server['id']}")
    for endpoint in each("event-endpoints"):
        delete(f"event-endpoints/{endpoint['id']}")
    for client in each("clients"):
        if client["client_id"] != live.bootstrap_client_id:
            delete(f"clients/{client['client_id']}")


def test_stateful_workflows_conform_to_the_document(live: Live) -> None:
    """Sequences that follow the links schemathesis infers (create a client, then get, patch,
    rotate and delete it; list users, then read, patch, link and delete one), so that
    operations on real ids are checked too, not only 404s for made-up ones."""

    class Machine(Workflow):  # type: ignore[misc, valid-type]
        def before_call(self, case: schemathesis.Case) -> None:
            assume(not cuts_the_branch_it_sits_on(case, live))

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": live.base_url, "session": live.session,
                    "headers": live.headers, "timeout": 10}

        def teardown(self) -> None:
            reset_to_bootstrap(live)

        def validate_response(self, response: Any, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=live.headers,
                                   transport_kwargs=kwargs)

    Machine.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=6,
                                  deadline=None, derandomize=True, database=None,
                                  suppress_health_check=list(HealthCheck)))
