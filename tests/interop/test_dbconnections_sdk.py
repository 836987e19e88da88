"""Database connections with the unmodified auth0-python SDK over real HTTP on loopback:
the v6 Management client creates the connection and a user with a password, the
Authentication API's ``Database`` signs a person up and asks for a password reset, and the
SDK's error parsing sees Auth0's codes (``user_exists``, ``invalid_password``)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from auth0.authentication import Database, GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management import Auth0

from tests.interop.conftest import Stack

CONNECTION = "Username-Password-Authentication"
PASSWORD = "Correct-Horse-9"


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, object]:
    # A cheaper argon2id cost for the test (the default is asserted in tests/unit/dbconn).
    return {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1}


def mails(stack: Stack, count: int) -> list[str]:
    """The outbox once it holds ``count`` messages (or what it holds after 10 s)."""
    outbox = Path(stack.settings.data_dir) / "outbox"
    deadline = time.monotonic() + 10
    while True:
        found = [p.read_text() for p in sorted(outbox.glob("*.eml"))] if outbox.exists() else []
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture(scope="module")
def setup(stack: Stack) -> tuple[Auth0, str]:
    token = GetToken(stack.domain, stack.bootstrap_client_id,
                     client_secret=stack.bootstrap_client_secret, protocol="http") \
        .client_credentials(audience=stack.management_audience)["access_token"]
    mgmt = Auth0(base_url=stack.management_base_url, token=token, timeout=10, max_retries=0)
    app = mgmt.clients.create(name="Database app", app_type="spa",
                              callbacks=[stack.app_callback])
    connection = mgmt.connections.create(
        name=CONNECTION, strategy="auth0", enabled_clients=[app.client_id],
        options={"passwordPolicy": "good", "brute_force_protection": True})
    assert connection.strategy == "auth0"
    return mgmt, str(app.client_id)


def test_signup_and_password_reset_through_the_sdk(stack: Stack,
                                                   setup: tuple[Auth0, str]) -> None:
    mgmt, client_id = setup
    database = Database(stack.domain, client_id, protocol="http")
    created = database.signup(email="Jane@Example.com", password=PASSWORD,
                              connection=CONNECTION, given_name="Jane",
                              user_metadata={"plan": "free"})
    assert re.fullmatch(r"[0-9a-f]{24}", created["_id"])
    assert created["email"] == "jane@example.com" and created["email_verified"] is False

    with pytest.raises(Auth0Error) as taken:
        database.signup(email="jane@example.com", password=PASSWORD, connection=CONNECTION)
    assert taken.value.status_code == 400 and taken.value.error_code == "user_exists"
    with pytest.raises(Auth0Error) as weak:
        database.signup(email="joe@example.com", password="weak", connection=CONNECTION)
    assert weak.value.error_code == "invalid_password"

    answer = database.change_password(email="jane@example.com", connection=CONNECTION)
    assert answer == "We've just sent you an email to reset your password."
    assert database.change_password(email="nobody@example.com", connection=CONNECTION) == answer
    # The mail is sent after the answer (so that its timing tells nothing): wait for it.
    assert sum("Reset your password" in m for m in mails(stack, 2)) == 1

    user = mgmt.users.get(f"auth0|{created['_id']}")
    assert user.identities is not None
    identity = user.identities[0]
    assert (identity.provider, identity.connection, identity.is_social) == \
        ("auth0", CONNECTION, False)


def test_the_management_client_creates_a_user_with_a_password(
        stack: Stack, setup: tuple[Auth0, str]) -> None:
    mgmt, _ = setup
    user = mgmt.users.create(connection=CONNECTION, email="ann@example.com",
                             password=PASSWORD, email_verified=True)
    assert user.user_id is not None and user.user_id.startswith("auth0|")
    updated = mgmt.users.update(user.user_id, password="Another-Passw0rd",
                                connection=CONNECTION)
    assert updated.user_id == user.user_id
