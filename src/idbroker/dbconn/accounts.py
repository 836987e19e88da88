"""Accounts of database connections: finding the connection, validating a sign-up, creating
the user (``auth0|<24 hex>``) with its password hash, and changing a password.

Used by ``POST /dbconnections/signup``, the hosted sign-up page and ``POST /api/v2/users``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from idbroker.dbconn import STRATEGY, policy
from idbroker.dbconn.hashing import hashing_for
from idbroker.dbconn.options import DatabaseOptions, parse_options
from idbroker.errors import Conflict, DatabaseConnectionError
from idbroker.json_values import has_nul, metadata_problem
from idbroker.runtime import Runtime
from idbroker.vault import password_store
from idbroker.vault.records import Client, Connection

_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")
# Auth0's username alphabet.
_USERNAME = re.compile(r"[A-Za-z0-9_+\-.!#$'^`~@]+")
MAX_IDENTIFIER_CHARS = 320


def normalise(identifier: str) -> str:
    """Emails and usernames are compared case-insensitively (as at Auth0)."""
    return identifier.strip().lower()


def valid_email(value: str) -> bool:
    return len(value) <= 320 and _EMAIL.fullmatch(value) is not None


def signup_error(description: str, code: str = "invalid_signup") -> DatabaseConnectionError:
    return DatabaseConnectionError(description, code=code)


@dataclass(frozen=True, slots=True)
class Database:
    connection: Connection
    options: DatabaseOptions


async def database_for(rt: Runtime, name: Any, client: Client | None) -> Database | None:
    """The database connection called ``name``, if it exists and (with ``client``) is
    enabled for that application."""
    if not isinstance(name, str) or not name or len(name) > 128:
        return None
    connection = await rt.store.get_connection_by_name(name)
    if connection is None or connection.strategy != STRATEGY:
        return None
    if client is not None and client.client_id not in connection.enabled_clients:
        return None
    return Database(connection, parse_options(connection.options))


async def client_and_database(rt: Runtime, client_id: Any, connection: Any
                              ) -> tuple[Client, Database]:
    """Both named by a /dbconnections request, or Auth0's 400."""
    client = None
    if isinstance(client_id, str) and 0 < len(client_id) <= 64:
        client = await rt.store.get_client(client_id)
    if client is None:
        raise DatabaseConnectionError("Unknown client.", code="invalid_client")
    database = await database_for(rt, connection, client)
    if database is None:
        raise DatabaseConnectionError(
            "The connection does not exist or is not enabled for this application.",
            code="invalid_connection")
    return client, database


class Profile(BaseModel):
    """The person's attributes at sign-up (Auth0's /dbconnections/signup body, less
    client_id/connection/password)."""

    model_config = ConfigDict(extra="ignore")
    email: StrictStr = Field(min_length=1, max_length=320)
    username: StrictStr | None = Field(default=None, max_length=128)
    given_name: StrictStr | None = Field(default=None, max_length=150)
    family_name: StrictStr | None = Field(default=None, max_length=150)
    name: StrictStr | None = Field(default=None, max_length=300)
    nickname: StrictStr | None = Field(default=None, max_length=300)
    picture: StrictStr | None = Field(default=None, max_length=2048)
    user_metadata: dict[str, Any] | None = None


def parse_profile(body: dict[str, Any], options: DatabaseOptions) -> Profile:
    try:
        profile = Profile.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise signup_error(f"Invalid sign up: {where}: {first.get('msg', 'invalid')}") from exc
    if any("\x00" in v for v in (profile.email, profile.username, profile.name,
                                 profile.given_name, profile.family_name, profile.nickname,
                                 profile.picture) if v):
        raise signup_error("Invalid sign up: NUL characters are not allowed")
    if not valid_email(profile.email):
        raise signup_error("Invalid sign up: email must be an email address")
    if profile.picture is not None:
        parts = urlsplit(profile.picture)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise signup_error("Invalid sign up: picture must be an absolute http(s) URL")
    if options.requires_username:
        limits = options.validation.username
        if not profile.username:
            raise signup_error("Invalid sign up: a username is required")
        if not (limits.min <= len(profile.username) <= limits.max) \
                or not _USERNAME.fullmatch(profile.username) or "@" in profile.username:
            raise signup_error(
                f"Invalid sign up: the username must be {limits.min} to {limits.max} "
                "letters, digits or _+-.!#$'^`~ (no @)", code="invalid_username")
    if profile.user_metadata is not None:
        problem = sign_up_metadata_problem(profile.user_metadata)
        if problem:
            raise signup_error(f"Invalid sign up: user_metadata {problem}")
    return profile


def sign_up_metadata_problem(value: dict[str, Any]) -> str | None:
    """Auth0's metadata rule, as the Management API applies it, plus no NUL (which the
    Management API refuses for every field at once, management/user_admin.py)."""
    problem = metadata_problem(value)
    if problem is None and has_nul(value):
        # PostgreSQL cannot store U+0000 in text.
        return "must not contain NUL characters"
    return problem


async def create_account(rt: Runtime, database: Database, profile: Profile, password: str, *,
                         email_verified: bool = False, blocked: bool = False,
                         app_metadata: dict[str, Any] | None = None,
                         subject: str | None = None) -> str:
    """Check the password against the connection's policy, hash it and create the user.
    Raises DatabaseConnectionError (invalid_password…) or Conflict (taken)."""
    email = normalise(profile.email)
    username = normalise(profile.username) if profile.username and \
        database.options.requires_username else None
    policy.check(password, database.options, personal=(
        email, username, profile.name, profile.given_name, profile.family_name,
        profile.nickname))
    password_hash = await hashing_for(rt.settings).hash(password)
    root = {
        "email": email, "email_verified": email_verified, "username": username,
        "given_name": profile.given_name, "family_name": profile.family_name,
        # Auth0 always generates name and nickname.
        "name": profile.name or email, "nickname": profile.nickname or email.split("@")[0],
        "picture": profile.picture, "blocked": blocked,
    }
    return await password_store.create_account(
        rt.store, connection=database.connection, subject=subject or secrets.token_hex(12),
        root=root, email=email, username=username, password_hash=password_hash,
        user_metadata=profile.user_metadata or {}, app_metadata=app_metadata)


async def change_password(rt: Runtime, user_id: str, password: str, *, end_sessions: bool,
                          connection_id: str | None = None) -> None:
    """Set a new password for a database user (its account in ``connection_id``, or its
    oldest), under the connection's policy. Raises DatabaseConnectionError when the user has
    no password there or the policy refuses it."""
    credential = await password_store.credential_of(rt.store, user_id, connection_id)
    if credential is None:
        raise DatabaseConnectionError("The user does not belong to a database connection.",
                                      code="invalid_user")
    connection = await rt.store.get_connection(credential.connection_id)
    if connection is None:
        raise DatabaseConnectionError("The user's connection no longer exists.",
                                      code="invalid_connection")
    options = parse_options(connection.options)
    user = await rt.store.get_user(user_id)
    policy.check(password, options, personal=(
        credential.email, credential.username, *((user.name, user.given_name, user.family_name,
                                                  user.nickname) if user else ())))
    password_hash = await hashing_for(rt.settings).hash(password)
    await password_store.set_password(rt.store, user_id, credential.connection_id,
                                      password_hash, end_sessions=end_sessions)


def user_exists() -> DatabaseConnectionError:
    return DatabaseConnectionError("The user already exists.", code="user_exists")


async def signup(rt: Runtime, body: Any, ip: str | None) -> tuple[dict[str, Any], str, Database]:
    """POST /dbconnections/signup. Returns Auth0's answer ``{"_id", "email",
    "email_verified": false, …}``, the new user_id and the connection."""
    if not isinstance(body, dict):
        raise signup_error("Invalid sign up: the body must be an object")
    client, database = await client_and_database(rt, body.get("client_id"),
                                                 body.get("connection"))
    if database.options.disable_signup:
        raise DatabaseConnectionError("Public signup is disabled", code="operation_not_allowed",
                                      status_code=403)
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise signup_error("Invalid sign up: a password is required")
    profile = parse_profile(body, database.options)
    try:
        user_id = await create_account(rt, database, profile, password)
    except Conflict as exc:
        await rt.store.audit("fs", description="The user already exists.",
                             client_id=client.client_id, connection=database.connection.name,
                             ip=ip)
        raise user_exists() from exc
    except DatabaseConnectionError as exc:
        await rt.store.audit("fs", description=f"Sign-up refused: {exc.code}",
                             client_id=client.client_id, connection=database.connection.name,
                             ip=ip)
        raise
    await rt.store.audit("ss", description="Successful signup", client_id=client.client_id,
                         user_id=user_id, connection=database.connection.name, ip=ip)
    out: dict[str, Any] = {"_id": user_id.split("|", 1)[1], "email": normalise(profile.email),
                           "email_verified": False}
    for key in ("username", "given_name", "family_name", "name", "nickname", "picture",
                "user_metadata"):
        value = getattr(profile, key)
        if value is not None and (key != "username" or database.options.requires_username):
            out[key] = value
    return out, user_id, database
