"""Users of database connections through the Management API: ``POST /api/v2/users`` with
``connection`` naming a database connection and a ``password`` creates an ``auth0|<24 hex>``
user (Auth0 parity); ``PATCH /api/v2/users/{id}`` with ``password`` sets a new one."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictStr

from idbroker.dbconn import STRATEGY, accounts, options as db_options
from idbroker.dbconn.reset import send_verification
from idbroker.errors import BadRequest, Conflict, DatabaseConnectionError
from idbroker.management.user_admin import _Profile
from idbroker.management.users import render_user
from idbroker.management.validation import parse
from idbroker.runtime import Runtime
from idbroker.vault import password_store
from idbroker.vault.records import Connection

_HEX24 = r"^[0-9a-f]{24}$"


class DatabaseUserCreate(_Profile):
    connection: str = Field(min_length=1, max_length=128)
    password: StrictStr = Field(min_length=1)
    email: str = Field(min_length=1, max_length=320)
    # Auth0 lets an administrator choose the id part of a database user.
    user_id: str | None = Field(default=None, pattern=_HEX24)
    email_verified: bool = False
    blocked: bool = False


def _refused(exc: DatabaseConnectionError) -> BadRequest:
    # Auth0's Management API names the password error's class in its message.
    if exc.code == "invalid_password":
        return BadRequest("PasswordStrengthError: Password is too weak",
                          error_code="invalid_body")
    return BadRequest(f"{exc.name}: {exc.description}", error_code="invalid_body")


async def create(rt: Runtime, connection: Connection, body: Any) -> dict[str, Any]:
    data = parse(DatabaseUserCreate, body)
    options = db_options.parse_options(connection.options)
    database = accounts.Database(connection, options)
    profile_fields = {k: getattr(data, k) for k in ("email", "username", "given_name",
                                                   "family_name", "name", "nickname",
                                                   "picture", "user_metadata")}
    try:
        profile = accounts.parse_profile(profile_fields, options)
        user_id = await accounts.create_account(
            rt, database, profile, data.password, email_verified=data.email_verified,
            blocked=data.blocked, app_metadata=data.app_metadata, subject=data.user_id)
    except DatabaseConnectionError as exc:
        raise _refused(exc) from exc
    except Conflict as exc:
        raise Conflict("The user already exists.", error_code="auth0_idp_error") from exc
    if data.verify_email and not data.email_verified:
        await send_verification(rt, user_id, accounts.normalise(data.email), connection.id,
                                client_id=None)
    user = await rt.store.get_user(user_id)
    assert user is not None
    return render_user(user)


async def set_password(rt: Runtime, user_id: str, password: str,
                       connection: str | None = None) -> None:
    """A new password by an administrator, for the user's account in ``connection`` (Auth0's
    PATCH body names it), else its oldest database account. The user's sessions, grants and
    refresh tokens end (docs/database-connections.md#password-reset)."""
    connection_id = None
    if connection:
        named = await rt.store.get_connection_by_name(connection)
        if named is None or named.strategy != STRATEGY:
            raise BadRequest("Payload validation error: not a database connection "
                             "(at connection)")
        connection_id = named.id
    try:
        await accounts.change_password(rt, user_id, password, end_sessions=True,
                                       connection_id=connection_id)
    except DatabaseConnectionError as exc:
        raise _refused(exc) from exc


async def sync_identifiers(rt: Runtime, user_id: str, changed: dict[str, Any]) -> None:
    """After a PATCH of email or username: the login identifiers of the user's primary
    identity follow the profile, when that identity is a database account."""
    user = await rt.store.get_user(user_id)
    if user is None or not user.identities or user.identities[0].provider != "auth0":
        return
    connection_id = user.identities[0].connection_id
    values: dict[str, Any] = {}
    if "email" in changed:
        values["email"] = accounts.normalise(changed["email"]) if changed["email"] else None
    if "username" in changed:
        values["username"] = accounts.normalise(changed["username"]) \
            if changed["username"] else None
    await password_store.set_identifiers(rt.store, user_id, connection_id, **values)
