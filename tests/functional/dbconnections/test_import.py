"""`idbroker users import` into a database connection: Auth0's password_hash (bcrypt) and
custom_password_hash (argon2) sign the person in, and are replaced by the broker's own hash
at that first login; no hash at all means no login until a password reset."""

from __future__ import annotations

import io
import json
from typing import Any

import bcrypt
import sqlalchemy as sa
from argon2 import PasswordHasher

from idbroker.management.user_import import export_users, import_users
from idbroker.vault import schema as t
from tests.functional.dbconnections.conftest import PASSWORD, co_authenticate
from tests.support import Broker


async def _import(broker: Broker, records: list[Any], **options: Any) -> Any:
    return await import_users(broker.runtime, io.StringIO(json.dumps(records)),
                              connection="Users", **options)


async def _hash_of(broker: Broker, user_id: str) -> str:
    async with broker.runtime.store.engine.connect() as conn:
        return str((await conn.execute(sa.select(t.password_credentials.c.password_hash).where(
            t.password_credentials.c.user_id == user_id))).scalar_one())


async def test_imported_password_hashes_sign_in_and_are_rehashed(
        broker: Broker, app: dict[str, Any], db: dict[str, Any]) -> None:
    bcrypted = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    argon = PasswordHasher(memory_cost=1024, time_cost=1).hash("Other-Horse-7")
    report = await _import(broker, [
        {"user_id": "auth0|5f0c0ffee0c0ffee0c0ffee0", "email": "Ann@Example.com",
         "email_verified": True, "password_hash": bcrypted, "user_metadata": {"lang": "de"}},
        {"email": "bob@example.com",
         "custom_password_hash": {"algorithm": "argon2", "hash": {"value": argon}}},
        {"email": "carl@example.com"},
        {"email": "dan@example.com", "password_hash": "$1$md5$not-supported"},
        {"email": "eve@example.com",
         "custom_password_hash": {"algorithm": "sha256", "hash": {"value": "ab" * 32}}},
        {"email": "ann@example.com", "password_hash": bcrypted},
        {"user_id": "x1", "email": "fay@example.com", "identities": [
            {"connection": "Users", "access_token": "not-for-a-database-user"}]},
    ], on_error="continue")
    assert (report.inserted, report.failed) == (3, 4), report.errors
    messages = {e.index: e.message for e in report.errors}
    assert "not a bcrypt hash" in messages[3]
    assert "sha256 is not supported" in messages[4]
    assert "the same email as record 0" in messages[5]
    assert "no IdP tokens" in messages[6]

    ann = "auth0|5f0c0ffee0c0ffee0c0ffee0"
    assert (await co_authenticate(broker.http, app, "ann@example.com", PASSWORD)
            ).status_code == 200
    # The first login replaced the imported bcrypt hash by an argon2id one; it still works.
    assert (await _hash_of(broker, ann)).startswith("$argon2id$")
    assert (await co_authenticate(broker.http, app, "ANN@example.com", PASSWORD)
            ).status_code == 200
    assert (await co_authenticate(broker.http, app, "ann@example.com", "Wrong-Passw0rd")
            ).status_code == 403
    assert (await co_authenticate(broker.http, app, "bob@example.com", "Other-Horse-7")
            ).status_code == 200
    # Imported without a hash: refused exactly like a wrong password.
    carl = await co_authenticate(broker.http, app, "carl@example.com", "")
    assert carl.status_code in (400, 403)
    carl = await co_authenticate(broker.http, app, "carl@example.com", PASSWORD)
    assert carl.status_code == 403

    reader = await broker.mgmt_token(["read:users"])
    body = (await broker.user(ann, reader)).json()
    assert body["email"] == "ann@example.com" and body["user_metadata"] == {"lang": "de"}
    assert body["identities"] == [{"connection": "Users", "provider": "auth0",
                                   "user_id": "5f0c0ffee0c0ffee0c0ffee0", "isSocial": False}]

    # Idempotent; another account with a taken email is a conflict, not a second login.
    again = await _import(broker, [{"user_id": "5f0c0ffee0c0ffee0c0ffee0",
                                    "email": "ann@example.com"}])
    assert (again.skipped, again.inserted, again.failed) == (1, 0, 0)
    taken = await _import(broker, [{"email": "bob@example.com"}], on_error="continue")
    assert taken.failed == 1 and "already used by user_id auth0|" in taken.errors[0].message

    # Export never carries a password hash.
    out = io.StringIO()
    assert await export_users(broker.runtime, out, connection="Users") == 3
    assert "$2" not in out.getvalue() and "argon2" not in out.getvalue()
