"""auth0-python 6.8.0's Management client (``auth0.management.Auth0``, Fern/httpx/pydantic)
against a running idbroker over loopback HTTP: every Management endpoint idbroker has that the
SDK has a method for, called through the SDK's own methods, with the SDK's own response
models parsing our bodies (a body they cannot parse raises ParsingError) and its own
exception classes receiving our error bodies. v4 is tested the same way in
test_management_v4.py; 429 handling in test_rate_limits_sdk.py."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0
from auth0.management.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)

from tests.interop.conftest import Stack
from tests.interop.sdk_tenant import CONNECTION, admin_token, oidc_connection_body, v6

USERS = 23  # not a multiple of the page size, so the last full page is not the last page


class AdminToken:
    """v6 takes a callable for ``token``: this one lets the signing-key test swap in a token
    signed by the new key before it revokes the key that signed the old one."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.value = admin_token(stack)

    def __call__(self) -> str:
        return self.value

    def refresh(self) -> None:
        self.value = admin_token(self.stack)


@pytest.fixture(scope="module")
def token(stack: Stack) -> AdminToken:
    return AdminToken(stack)


@pytest.fixture(scope="module")
def mgmt(stack: Stack, token: AdminToken) -> Auth0:
    return v6(stack, token)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def connection(mgmt: Auth0, stack: Stack) -> str:
    created = mgmt.connections.create(**oidc_connection_body(stack))  # type: ignore[arg-type]
    assert created.id and created.name == CONNECTION
    return created.id


@pytest.fixture
def sent(stack: Stack, token: AdminToken) -> Iterator[tuple[Auth0, list[httpx.Request]]]:
    """A client that records every request the SDK sends."""
    requests: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [requests.append]}, timeout=10) as http:
        yield v6(stack, token, httpx_client=http), requests  # type: ignore[arg-type]


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


# --- clients, connections, client grants ---------------------------------------------------------


def test_clients_create_get_list_update_rotate_delete(mgmt: Auth0) -> None:
    created = mgmt.clients.create(name="v6 app", app_type="regular_web",
                                  callbacks=["https://app.example.test/cb"])
    assert created.client_id and created.client_secret
    got = mgmt.clients.get(created.client_id)
    assert got.name == "v6 app" and got.callbacks == ["https://app.example.test/cb"]
    assert got.client_secret is None  # shown once, at creation

    listed = [c.client_id for c in mgmt.clients.list(per_page=2)]  # pages until empty
    assert created.client_id in listed and len(listed) == len(set(listed))

    updated = mgmt.clients.update(created.client_id, name="v6 app renamed",
                                  callbacks=["https://app.example.test/other"])
    assert updated.name == "v6 app renamed"
    assert updated.callbacks == ["https://app.example.test/other"]

    rotated = mgmt.clients.rotate_secret(created.client_id)
    assert rotated.client_secret and rotated.client_secret != created.client_secret

    assert mgmt.clients.delete(created.client_id) is None  # 204, no body
    with pytest.raises(NotFoundError) as err:
        mgmt.clients.get(created.client_id)
    assert isinstance(err.value.body, dict) and err.value.body["statusCode"] == 404


def test_connections_create_get_list_update_delete(mgmt: Auth0, stack: Stack,
                                                   connection: str) -> None:
    other = mgmt.connections.create(**oidc_connection_body(stack, "v6-other"))  # type: ignore
    assert other.id and other.strategy == "oidc"
    assert "client_secret" not in (other.options or {})  # write-only
    assert mgmt.connections.get(other.id).name == "v6-other"

    names = [c.name for c in mgmt.connections.list(take=1)]  # checkpoint paging, `next`
    assert {CONNECTION, "v6-other"} <= set(names) and len(names) == len(set(names))

    changed = mgmt.connections.update(other.id, display_name="Other IdP")
    assert changed.display_name == "Other IdP"
    mgmt.connections.delete(other.id)
    with pytest.raises(NotFoundError):
        mgmt.connections.get(other.id)


def test_client_grants_create_list_update_delete(mgmt: Auth0, stack: Stack) -> None:
    client = mgmt.clients.create(name="v6 backend", app_type="non_interactive")
    grant = mgmt.client_grants.create(client_id=client.client_id,
                                      audience=stack.management_audience, scope=["read:users"])
    assert grant.id and grant.scope == ["read:users"]
    found = [g.id for g in mgmt.client_grants.list(client_id=client.client_id)]
    assert found == [grant.id]
    changed = mgmt.client_grants.update(grant.id, scope=["read:users", "update:users"])
    assert changed.scope == ["read:users", "update:users"]
    mgmt.client_grants.delete(grant.id)
    assert [g.id for g in mgmt.client_grants.list(client_id=client.client_id)] == []
    mgmt.clients.delete(client.client_id)


# --- users: create, list to the end, search, by email, patch, delete ----------------------------


@pytest.fixture(scope="module")
def population(mgmt: Auth0, connection: str) -> list[str]:
    ids = []
    for n in range(USERS):
        user = mgmt.users.create(connection=CONNECTION, user_id=f"person-{n:02d}",
                                 email=f"person-{n:02d}@example.com", name=f"Person {n:02d}",
                                 app_metadata={"plan": "gold" if n % 5 == 0 else "free"},
                                 user_metadata={"n": n})
        assert user.user_id == f"oidc|{CONNECTION}|person-{n:02d}"
        assert user.identities and user.identities[0].provider == "oidc"
        ids.append(user.user_id)
    return ids


def test_users_list_pages_until_an_empty_page(sent: tuple[Auth0, list[httpx.Request]],
                                              population: list[str]) -> None:
    mgmt, requests = sent
    seen = [u.user_id for u in mgmt.users.list(per_page=5, q=f"identities.connection:"
                                                             f"\"{CONNECTION}\"")]
    assert sorted(seen) == sorted(population)  # every user once: no gaps, no repeats
    pages = [query(r) for r in requests if r.url.path == "/api/v2/users"]
    # v6 asks for page 0, 1, 2, ... and stops at the first page with no users.
    assert [int(p["page"]) for p in pages] == list(range(len(pages)))
    assert len(pages) == USERS // 5 + 2
    assert all(p["per_page"] == "5" and p["include_totals"] == "true" for p in pages)

    first = mgmt.users.list(per_page=5, page=0, q=f"identities.connection:\"{CONNECTION}\"")
    assert first.response is not None and first.response.total == USERS
    assert first.response.start == 0 and first.response.limit == 5


def test_users_search_with_q_and_by_email(mgmt: Auth0, population: list[str]) -> None:
    one = list(mgmt.users.list(q='email:"person-07@example.com"'))
    assert [u.user_id for u in one] == [population[7]]
    gold = {u.user_id for u in mgmt.users.list(q="app_metadata.plan:gold")}
    assert gold == {population[n] for n in range(0, USERS, 5)}
    prefix = {u.user_id for u in mgmt.users.list(q="email:person-1*")}
    assert prefix == {population[n] for n in range(10, 20)}
    either = {u.user_id for u in mgmt.users.list(
        q='email:"person-01@example.com" OR email:"person-02@example.com"')}
    assert either == {population[1], population[2]}

    by_email = mgmt.users.list_users_by_email(email="person-09@example.com")
    assert [u.user_id for u in by_email] == [population[9]]
    assert mgmt.users.list_users_by_email(email="nobody@example.com") == []


def test_users_get_patch_metadata_and_delete(mgmt: Auth0, connection: str) -> None:
    user = mgmt.users.create(connection=CONNECTION, user_id="patchy", email="patchy@example.com",
                             app_metadata={"keep": 1, "drop": 2},
                             user_metadata={"theme": "dark", "lang": "en"})
    assert user.user_id
    got = mgmt.users.get(user.user_id, fields="user_id,app_metadata", include_fields=True)
    assert got.user_id == user.user_id and got.app_metadata == {"keep": 1, "drop": 2}

    # Auth0's merge: one level deep, null removes a key, root attributes replaced.
    patched = mgmt.users.update(user.user_id, app_metadata={"drop": None, "new": 3},
                                user_metadata={"lang": "fr"}, name="Patchy McPatch")
    assert patched.app_metadata == {"keep": 1, "new": 3}
    assert patched.user_metadata == {"theme": "dark", "lang": "fr"}
    assert patched.name == "Patchy McPatch"
    assert mgmt.users.get(user.user_id).app_metadata == {"keep": 1, "new": 3}

    assert mgmt.users.delete(user.user_id) is None
    with pytest.raises(NotFoundError) as err:
        mgmt.users.get(user.user_id)
    assert isinstance(err.value.body, dict) and err.value.body["errorCode"] == "inexistent_user"


def test_link_and_unlink(mgmt: Auth0, connection: str) -> None:
    primary = mgmt.users.create(connection=CONNECTION, user_id="main", email="main@example.com")
    secondary = mgmt.users.create(connection=CONNECTION, user_id="alt", email="alt@example.com",
                                  user_metadata={"from": "alt"})
    assert primary.user_id and secondary.user_id

    linked = mgmt.users.identities.link(primary.user_id, provider="oidc",
                                        user_id=f"{CONNECTION}|alt", connection_id=connection)
    assert [(i.provider, i.user_id, i.connection) for i in linked] == [
        ("oidc", f"{CONNECTION}|main", CONNECTION), ("oidc", f"{CONNECTION}|alt", CONNECTION)]
    with pytest.raises(NotFoundError):  # no longer a user of its own
        mgmt.users.get(secondary.user_id)
    assert len(mgmt.users.get(primary.user_id).identities or []) == 2

    remaining = mgmt.users.identities.delete(primary.user_id, "oidc", f"{CONNECTION}|alt")
    assert [(i.provider, i.user_id) for i in remaining] == [("oidc", f"{CONNECTION}|main")]
    back = mgmt.users.get(secondary.user_id)  # re-created standalone, as Auth0 does
    assert back.identities and back.identities[0].user_id == f"{CONNECTION}|alt"


# --- resource servers, signing keys, logs -------------------------------------------------------


def test_resource_servers_create_get_list_update_delete(mgmt: Auth0) -> None:
    api = mgmt.resource_servers.create(identifier="https://api.v6.example.test/",
                                       name="v6 API",
                                       scopes=[{"value": "read:things", "description": "Read"}])
    assert api.id and api.identifier == "https://api.v6.example.test/"
    assert mgmt.resource_servers.get(api.id).name == "v6 API"
    assert api.id in [r.id for r in mgmt.resource_servers.list(per_page=1)]
    changed = mgmt.resource_servers.update(api.id, name="v6 API renamed",
                                           token_lifetime=600)
    assert changed.name == "v6 API renamed" and changed.token_lifetime == 600
    with pytest.raises(ConflictError) as err:  # (max_retries=0: v6 would retry a 409 twice)
        mgmt.resource_servers.create(identifier="https://api.v6.example.test/", name="Again")
    assert isinstance(err.value.body, dict) and err.value.body["statusCode"] == 409
    mgmt.resource_servers.delete(api.id)
    with pytest.raises(NotFoundError):
        mgmt.resource_servers.get(api.id)


def test_signing_keys_list_get_rotate_revoke(mgmt: Auth0, token: AdminToken) -> None:
    before = mgmt.keys.signing.list()
    current = [k for k in before if k.current]
    assert len(current) == 1 and current[0].kid
    assert mgmt.keys.signing.get(current[0].kid).kid == current[0].kid

    rotated = mgmt.keys.signing.rotate()
    assert rotated.kid and rotated.kid != current[0].kid
    after = {k.kid: k for k in mgmt.keys.signing.list()}
    assert after[rotated.kid].current and not after[current[0].kid].current

    token.refresh()  # the old token was signed by the key about to be revoked
    revoked = mgmt.keys.signing.revoke(current[0].kid)
    assert revoked.kid == current[0].kid
    assert mgmt.keys.signing.get(current[0].kid).revoked


def test_logs_list_get_and_per_user(mgmt: Auth0, population: list[str]) -> None:
    logs = list(mgmt.logs.list(per_page=10))
    assert logs and all(log.date and log.type for log in logs)
    ids = [log.log_id for log in logs]
    assert len(ids) == len(set(ids))
    one = mgmt.logs.get(ids[0])
    assert one.log_id == ids[0] and one.type == logs[0].type
    for user_id in population[:1]:
        for entry in mgmt.users.logs.list(user_id, per_page=5):
            assert entry.user_id == user_id


# --- our error bodies, as the SDK surfaces them -------------------------------------------------


def test_error_bodies_reach_the_sdk_exceptions(stack: Stack, mgmt: Auth0) -> None:
    with pytest.raises(BadRequestError) as bad:
        mgmt.clients.create(name="")
    assert isinstance(bad.value.body, dict)
    assert bad.value.body["statusCode"] == 400 and bad.value.body["errorCode"] == "invalid_body"

    reader = v6(stack, "not-a-jwt")
    with pytest.raises(UnauthorizedError) as unauthorized:
        reader.clients.list()
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.body == {"statusCode": 401, "error": "Unauthorized",
                                       "message": "Invalid token",
                                       "attributes": {"error": "Invalid token"}}

    client = mgmt.clients.create(name="v6 nobody", app_type="non_interactive")
    mgmt.client_grants.create(client_id=client.client_id, audience=stack.management_audience,
                              scope=["read:clients"])
    weak = GetToken(stack.domain, client.client_id, client_secret=client.client_secret,
                    protocol="http").client_credentials(audience=stack.management_audience)
    with pytest.raises(ForbiddenError) as forbidden:
        v6(stack, weak["access_token"]).users.list()
    assert isinstance(forbidden.value.body, dict)
    assert forbidden.value.body["errorCode"] == "insufficient_scope"
    assert forbidden.value.body["message"] == "Insufficient scope, expected any of: read:users"
