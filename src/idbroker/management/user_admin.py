"""Users changed by an administrator: POST, PATCH and DELETE /api/v2/users.

Auth0's create requires ``connection``. A database connection's users (with a password) are
made by management/database_users.py. Otherwise a created user is a *pre-provisioned upstream
account*: ``connection`` names an existing
connection and ``user_id`` the account's subject at that upstream. The user's identity holds no
IdP tokens until that person first signs in through the connection, which finds the identity
by (connection, upstream issuer, subject) and fills them in (docs/users.md).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idbroker.errors import BadRequest, NotFound
from idbroker.json_values import has_nul, metadata_problem
from idbroker.dbconn import STRATEGY as DATABASE_STRATEGY
from idbroker.lifecycle.outbox import USER_DELETED, emit_event, enqueue_revocation
from idbroker.management.users import checked_user_id, render_user
from idbroker.management.validation import parse
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime
from idbroker.vault import user_writes

_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > 320 or not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address")
    return value.lower()


def _picture(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    problem = metadata_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class _Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str | None = Field(default=None, max_length=320)
    username: str | None = Field(default=None, min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=300)
    given_name: str | None = Field(default=None, max_length=150)
    family_name: str | None = Field(default=None, max_length=150)
    nickname: str | None = Field(default=None, max_length=300)
    picture: str | None = Field(default=None, max_length=2048)
    app_metadata: dict[str, Any] | None = None
    user_metadata: dict[str, Any] | None = None
    # Accepted for SDK compatibility; idbroker sends no email.
    verify_email: bool | None = None

    @model_validator(mode="after")
    def _no_nul(self) -> _Profile:
        for name in type(self).model_fields:
            if has_nul(getattr(self, name)):
                raise ValueError(f"{name} must not contain NUL characters")
        return self

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        return _email(value)

    @field_validator("picture")
    @classmethod
    def _check_picture(cls, value: str | None) -> str | None:
        return _picture(value)

    @field_validator("app_metadata", "user_metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)


class UserCreate(_Profile):
    """A pre-provisioned upstream account (see the module docstring)."""

    connection: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=255, description="the subject at the upstream")
    email_verified: bool = False
    blocked: bool = False


class UserChanges(_Profile):
    """Root attributes are replaced (null unsets them); metadata is merged one level deep,
    a null value deleting its key, and an empty object clearing it."""

    email_verified: bool | None = None
    blocked: bool | None = None
    # Sent by the SDKs alongside email/username changes; there is one upstream per identity.
    connection: str | None = Field(default=None, max_length=128)
    # A new password for a user of a database connection (management/database_users.py).
    password: str | None = Field(default=None, max_length=1024)
    client_id: str | None = Field(default=None, max_length=64)


def _not_found() -> NotFound:
    return NotFound("The user does not exist.", error_code="inexistent_user")


def _upstream_issuer(connector: Any) -> str:
    """The issuer the connector reports at login (UpstreamLogin.issuer), so that the first
    login finds the pre-provisioned identity instead of colliding with it."""
    options = connector.options
    expected = getattr(options, "expected_issuer", None)
    if isinstance(expected, str):
        return expected
    token_url = urlsplit(options.tokenURL)
    return f"{token_url.scheme}://{token_url.netloc}"


async def create(rt: Runtime, body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("connection"), str):
        named = await rt.store.get_connection_by_name(body["connection"][:128])
        if named is not None and named.strategy == DATABASE_STRATEGY:
            # A username/password account (management/database_users.py).
            from idbroker.management import database_users
            return await database_users.create(rt, named, body)
    data = parse(UserCreate, body)
    connection = await rt.store.get_connection_by_name(data.connection)
    if connection is None:
        raise BadRequest("Payload validation error: the connection does not exist "
                         "(at connection)", error_code="invalid_body")
    connector = rt.connector(connection)
    idp_user_id = (f"{connection.name}|{data.user_id}" if connector.namespaced_user_id
                   else data.user_id)
    if len(f"{connector.provider}|{idp_user_id}") > 300:
        raise BadRequest("Payload validation error: the resulting user_id would be longer "
                         "than 300 characters (at user_id)", error_code="invalid_body")
    root = data.model_dump(include={"email", "email_verified", "username", "name",
                                    "given_name", "family_name", "nickname", "picture",
                                    "blocked"})
    # Auth0 always generates name and nickname.
    root["name"] = root["name"] or data.email or data.user_id
    root["nickname"] = root["nickname"] or (data.email.split("@")[0] if data.email
                                            else data.user_id)
    user_id = await user_writes.create_user(
        rt.store, connection=connection, provider=connector.provider,
        issuer=_upstream_issuer(connector), subject=data.user_id, idp_user_id=idp_user_id,
        is_social=connector.is_social, root=root, extra={},
        app_metadata=data.app_metadata or {}, user_metadata=data.user_metadata or {})
    user = await rt.store.get_user(user_id)
    assert user is not None
    return render_user(user)


async def update(rt: Runtime, user_id: str, body: Any) -> dict[str, Any]:
    data = parse(UserChanges, body)
    sent = data.model_fields_set
    for flag in ("email_verified", "blocked"):
        if flag in sent and getattr(data, flag) is None:
            raise BadRequest(f"Payload validation error: must be true or false (at {flag})")
    root = {k: getattr(data, k) for k in sent if k in user_writes.ROOT_COLUMNS}
    if sent & {"password", "email", "username"}:
        from idbroker.management import database_users
        if "password" in sent:
            if not data.password:
                raise BadRequest("Payload validation error: must be a non-empty string "
                                 "(at password)")
            await database_users.set_password(rt, checked_user_id(user_id), data.password,
                                              data.connection)
        await database_users.sync_identifiers(rt, checked_user_id(user_id), root)
    found = await user_writes.patch_user(
        rt.store, checked_user_id(user_id), root,
        app_metadata=_metadata_change(data.app_metadata, "app_metadata" in sent),
        user_metadata=_metadata_change(data.user_metadata, "user_metadata" in sent))
    if not found:
        raise _not_found()
    user = await rt.store.get_user(user_id)
    if user is None:
        raise _not_found()
    return render_user(user)


def _metadata_change(value: dict[str, Any] | None, sent: bool) -> dict[str, Any] | None:
    if not sent:
        return None
    return value or {}  # {} (or null) clears the object, as in Auth0


async def delete(rt: Runtime, caller: VerifiedAccessToken, user_id: str,
                 ip: str | None) -> None:
    """Delete the user. In the same transaction: owe the upstream a revocation of every
    identity's tokens (durable outbox), record the event, and end the broker's own grants."""
    store = rt.store
    checked_user_id(user_id)
    async with store.engine.begin() as conn:
        if not await user_writes.lock_user(conn, user_id):
            raise _not_found()
        user = await user_writes.read_user(conn, user_id)
        assert user is not None
        for identity in user.identities:
            await enqueue_revocation(conn, store.vault, identity, "user_deleted")
        await emit_event(conn, USER_DELETED, {
            "user_id": user_id,
            "identities": [f"{i.provider}|{i.idp_user_id}" for i in user.identities],
            "connections": sorted({i.connection for i in user.identities})})
        await user_writes.revoke_user_grants(conn, user_id)
        await user_writes.delete_user_rows(conn, user_id)
    await store.audit("sdu", description="User deleted through the Management API",
                      client_id=caller.claims.get("azp"), user_id=user_id, ip=ip)
