"""`idbroker users import` and `idbroker users export`: users in Auth0's bulk formats.

Import reads Auth0's bulk-import file (a JSON array of user objects; newline-delimited objects,
Auth0's export format, are read too) into one connection. As for ``POST /api/v2/users``, every
record is a *pre-provisioned upstream account*: ``user_id`` is the subject at the connection's
upstream (a user_id already carrying this connection's prefix, as in an export, has it
removed). idbroker's extension: an entry of ``identities[]`` for the connection may carry the
account's IdP tokens, which are sealed with the vault key, bound to the identity row, exactly
as a login seals them. Records are validated one by one and written in batches, one
transaction per batch. See docs/users-import-export.md.

Export writes the same shape, never with IdP tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from idbroker.clock import iso_ms, now_ms, now_s
from idbroker.dbconn import STRATEGY as DATABASE_STRATEGY
from idbroker.dbconn.options import parse_options
from idbroker.errors import BadRequest
from idbroker.ids import new_id
from idbroker.json_stream import StreamError, read_records
from idbroker.management.user_admin import (
    _email, _picture, _upstream_issuer, check_metadata,
)
from idbroker.runtime import Runtime
from idbroker.vault import user_bulk
from idbroker.vault.password_store import DATABASE_ISSUER
from idbroker.vault.records import TokenSet, User

DEFAULT_BATCH = 5_000
_TOKEN_MAX = 16_384
_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
# The stored hash of an imported database account that came without one: verifies nothing.
NO_PASSWORD = "!"
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class ImportIdentity(BaseModel):
    """An Auth0 identity object, plus idbroker's token fields."""

    model_config = ConfigDict(extra="forbid", strict=True)

    connection: str | None = Field(default=None, max_length=128)
    provider: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, min_length=1, max_length=300)
    isSocial: bool | None = None  # noqa: N815 - Auth0's key
    profileData: dict[str, Any] | None = None  # noqa: N815 - Auth0's key; not imported
    access_token: str | None = Field(default=None, min_length=1, max_length=_TOKEN_MAX)
    refresh_token: str | None = Field(default=None, min_length=1, max_length=_TOKEN_MAX)
    id_token: str | None = Field(default=None, min_length=1, max_length=_TOKEN_MAX)
    access_token_secret: str | None = Field(default=None, min_length=1, max_length=_TOKEN_MAX)
    token_type: str | None = Field(default=None, max_length=32)
    expires_at: int | None = Field(default=None, ge=0, description="epoch seconds")
    expires_in: int | None = Field(default=None, ge=0, description="seconds from the import")
    scope: str | list[str] | None = None

    def token_set(self) -> TokenSet | None:
        if not (self.access_token or self.refresh_token or self.access_token_secret
                or self.id_token):
            return None
        expires = self.expires_at
        if expires is None and self.expires_in is not None:
            expires = now_s() + self.expires_in
        scope = self.scope.split() if isinstance(self.scope, str) else list(self.scope or [])
        return TokenSet(access_token=self.access_token, refresh_token=self.refresh_token,
                        id_token=self.id_token, access_token_secret=self.access_token_secret,
                        token_type=self.token_type, expires_at=expires, scope=scope)


class _HashValue(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    value: str = Field(min_length=1, max_length=255)


class CustomPasswordHash(BaseModel):
    """Auth0's ``custom_password_hash``; only the algorithms idbroker verifies are accepted."""

    model_config = ConfigDict(extra="allow", strict=True)
    algorithm: str
    hash: _HashValue


class ImportUser(BaseModel):
    """Auth0's bulk-import user object (its database-connection fields that mean something
    here), and the history fields of Auth0's export."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # Required, except for a database connection (a random id is drawn, as at Auth0).
    user_id: str | None = Field(default=None, min_length=1, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    email_verified: bool = False
    username: str | None = Field(default=None, min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=300)
    given_name: str | None = Field(default=None, max_length=150)
    family_name: str | None = Field(default=None, max_length=150)
    nickname: str | None = Field(default=None, max_length=300)
    picture: str | None = Field(default=None, max_length=2048)
    blocked: bool = False
    app_metadata: dict[str, Any] | None = None
    user_metadata: dict[str, Any] | None = None
    password_hash: str | None = Field(default=None, max_length=255)
    custom_password_hash: CustomPasswordHash | None = None
    identities: list[ImportIdentity] = Field(default_factory=list, max_length=50)
    # Export fields: kept, so a migrated user keeps its history.
    created_at: str | None = None
    updated_at: str | None = None
    last_login: str | None = None
    last_ip: str | None = Field(default=None, max_length=64)
    logins_count: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL refuses NUL in text. One C-speed dump and a regex (an odd run of
        # backslashes before u0000 is an escaped NUL) instead of walking every value.
        dumped = json.dumps(value)
        if "\\u0000" in dumped and _NUL.search(dumped):
            raise ValueError("text must not contain NUL characters")
        return value

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

    @field_validator("created_at", "updated_at", "last_login")
    @classmethod
    def _check_time(cls, value: str | None) -> str | None:
        if value is not None:
            _millis(value)
        return value


def _millis(value: str) -> int:
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("must be an ISO-8601 date-time") from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return int(stamp.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class RecordError:
    index: int
    line: int
    message: str

    def __str__(self) -> str:
        return f"record {self.index} (line {self.line}): {self.message}"


@dataclass
class ImportReport:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    aborted: bool = False
    # Identities of other connections in a record are not imported (docs): counted here.
    other_identities: int = 0
    errors: list[RecordError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "inserted": self.inserted, "updated": self.updated,
                "skipped": self.skipped, "failed": self.failed, "aborted": self.aborted,
                "other_identities_ignored": self.other_identities}


@dataclass(frozen=True, slots=True)
class _Target:
    connection_id: str
    name: str
    provider: str
    issuer: str
    namespaced: bool
    is_social: bool
    # A database connection (strategy auth0): accounts with a password credential.
    database: bool = False
    requires_username: bool = False


class _RecordInvalid(ValueError):
    pass


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "record"
    return f"{str(first.get('msg', 'invalid')).removeprefix('Value error, ')} (at {where})"


def _account(raw: Any, target: _Target, *, stamp: int, drop_password_hashes: bool,
             report: ImportReport) -> user_bulk.NewAccount:
    if not isinstance(raw, dict):
        raise _RecordInvalid("a user must be a JSON object")
    try:
        record = ImportUser.model_validate(raw)
    except ValidationError as exc:
        raise _RecordInvalid(_validation_message(exc)) from exc
    password_hash = None
    if record.password_hash or record.custom_password_hash:
        if not target.database and not drop_password_hashes:
            raise _RecordInvalid("password hashes can only be imported into a database "
                                 "connection (use --drop-password-hashes to import the user "
                                 "without it)")
        if target.database and not drop_password_hashes:
            password_hash = _password_hash(record)
    if target.database:
        if record.email is None:
            raise _RecordInvalid("email is required for a database connection (at email)")
        if any(i.token_set() is not None for i in record.identities):
            raise _RecordInvalid("a database connection's users have no IdP tokens")
    elif record.user_id is None:
        raise _RecordInvalid("Field required (at user_id)")
    ours = [i for i in record.identities if i.connection in (None, target.name)]
    report.other_identities += len(record.identities) - len(ours)
    if len(ours) > 1:
        raise _RecordInvalid(f"more than one identity of connection {target.name}")
    identity = ours[0] if ours else None
    if identity is not None and identity.provider not in (None, target.provider):
        raise _RecordInvalid(f"identities[].provider is not {target.provider}")
    # The subject at the upstream: from this connection's identity when the record has one,
    # else from user_id. A user_id with the connection's prefix (an export) loses it.
    namespace = f"{target.name}|" if target.namespaced else ""
    if identity is not None and identity.user_id is not None:
        subject = identity.user_id.removeprefix(namespace)
    elif record.user_id is not None:
        subject = record.user_id.removeprefix(f"{target.provider}|{namespace}")
    else:
        subject = secrets.token_hex(12)  # a database account's id, as POST /users draws it
    if not subject or len(subject) > 255:
        raise _RecordInvalid("the upstream subject must be 1-255 characters (at user_id)")
    idp_user_id = f"{namespace}{subject}"
    user_id = f"{target.provider}|{idp_user_id}"
    if len(user_id) > 300:
        raise _RecordInvalid("the resulting user_id would be longer than 300 characters")
    root = {"email": record.email, "email_verified": record.email_verified,
            "username": record.username, "given_name": record.given_name,
            "family_name": record.family_name, "picture": record.picture,
            # Auth0 always generates name and nickname (as POST /api/v2/users does).
            "name": record.name or record.email or subject,
            "nickname": record.nickname or (record.email.split("@")[0] if record.email
                                            else subject)}
    created = _millis(record.created_at) if record.created_at else stamp
    user = {"user_id": user_id, **root, "blocked": record.blocked, "extra": {},
            "app_metadata": record.app_metadata or {},
            "user_metadata": record.user_metadata or {}, "created_at": created,
            "updated_at": stamp,
            "last_login": _millis(record.last_login) if record.last_login else None,
            "last_ip": record.last_ip, "logins_count": record.logins_count}
    identity_row = {
        "id": new_id("idn_"), "user_id": user_id, "connection_id": target.connection_id,
        "connection": target.name, "provider": target.provider, "issuer": target.issuer,
        "subject": subject, "idp_user_id": idp_user_id, "is_social": target.is_social,
        "profile_data": {k: v for k, v in root.items() if v is not None},
        "created_at": created, "updated_at": stamp}
    credential = None
    if target.database:
        username = record.username.lower() if record.username and target.requires_username \
            else None
        user["username"] = username
        credential = {"user_id": user_id, "connection_id": target.connection_id,
                      "email": record.email, "username": username,
                      # No hash: a credential that never verifies; the person signs in after
                      # a password reset.
                      "password_hash": password_hash or NO_PASSWORD,
                      "created_at": created, "updated_at": stamp}
    return user_bulk.NewAccount(user=user, identity=identity_row,
                                tokens=identity.token_set() if identity else None,
                                credential=credential, password_given=password_hash is not None)


def _password_hash(record: ImportUser) -> str:
    """The stored form of the record's hash: bcrypt ($2a$/$2b$/$2y$) as it is, argon2 in its
    PHC string; anything else cannot be verified and is refused."""
    if record.password_hash is not None:
        value, algorithm = record.password_hash, "bcrypt"
    else:
        assert record.custom_password_hash is not None
        value = record.custom_password_hash.hash.value
        algorithm = record.custom_password_hash.algorithm
    if algorithm == "bcrypt" and _BCRYPT.fullmatch(value):
        return value
    if algorithm == "argon2" and value.startswith(("$argon2id$", "$argon2i$", "$argon2d$")):
        return value
    if algorithm not in ("bcrypt", "argon2"):
        raise _RecordInvalid(f"password hash algorithm {algorithm} is not supported (bcrypt "
                             "and argon2 are; at custom_password_hash.algorithm)")
    raise _RecordInvalid(f"not a {algorithm} hash (at password_hash)")


async def _target(rt: Runtime, name: str) -> _Target:
    connection = await rt.store.get_connection_by_name(name)
    if connection is None:
        raise BadRequest(f"the connection {name} does not exist")
    if connection.strategy == DATABASE_STRATEGY:
        return _Target(connection_id=connection.id, name=connection.name, provider="auth0",
                       issuer=DATABASE_ISSUER, namespaced=False, is_social=False,
                       database=True, requires_username=parse_options(
                           connection.options).requires_username)
    connector = rt.connector(connection)
    return _Target(connection_id=connection.id, name=connection.name,
                   provider=connector.provider, issuer=_upstream_issuer(connector),
                   namespaced=bool(getattr(connector, "namespaced_user_id", False)),
                   is_social=bool(connector.is_social))


async def import_users(rt: Runtime, source: IO[str], *, connection: str, upsert: bool = False,
                       on_error: Literal["abort", "continue"] = "abort",
                       drop_password_hashes: bool = False, batch_size: int = DEFAULT_BATCH,
                       progress: Callable[[int], None] | None = None,
                       on_record_error: Callable[[RecordError], None] | None = None,
                       ) -> ImportReport:
    """Import ``source`` into ``connection``. With ``on_error="abort"`` the import stops at the
    first bad record and nothing of that record's batch is written (earlier batches are
    committed; re-running skips them). Malformed JSON always stops the import (with
    ``continue``, after writing the valid records read before it)."""
    target = await _target(rt, connection)
    report = ImportReport()
    batch: list[user_bulk.NewAccount] = []
    where: list[tuple[int, int]] = []
    seen: dict[str, int] = {}
    written = [0]  # batches written so far

    def fail(index: int, line: int, message: str) -> None:
        error = RecordError(index, line, message)
        report.failed += 1
        if len(report.errors) < 1000:
            report.errors.append(error)
        if on_record_error is not None:
            on_record_error(error)

    async def flush() -> bool:
        if not batch:
            return True
        result = await user_bulk.write_batch(
            rt.store, batch, connection_id=target.connection_id, issuer=target.issuer,
            upsert=upsert, all_or_nothing=on_error == "abort")
        for position, message in result.conflicts:
            fail(*where[position], message)
        report.inserted += result.inserted
        report.updated += result.updated
        report.skipped += result.skipped
        written[0] += 1
        await user_bulk.keep_statistics(rt.store, written[0])
        batch.clear()
        where.clear()
        seen.clear()
        return not (result.conflicts and on_error == "abort")

    stamp = now_ms()
    try:
        for item in read_records(source):
            report.read += 1
            try:
                account = _account(item.value, target, stamp=stamp,
                                   drop_password_hashes=drop_password_hashes, report=report)
                first = seen.get(account.user["user_id"])
                if first is not None:
                    raise _RecordInvalid(f"the same user as record {first} of this file")
                if account.credential is not None:
                    for key in ("email", "username"):
                        value = account.credential[key]
                        if value is not None and (f"{key}:{value}") in seen:
                            raise _RecordInvalid(
                                f"the same {key} as record {seen[f'{key}:{value}']} of this "
                                "file")
            except _RecordInvalid as exc:
                fail(item.index, item.line, str(exc))
                if on_error == "abort":
                    report.aborted = True
                    return report
                continue
            seen[account.user["user_id"]] = item.index
            if account.credential is not None:
                for key in ("email", "username"):
                    if account.credential[key] is not None:
                        seen[f"{key}:{account.credential[key]}"] = item.index
            batch.append(account)
            where.append((item.index, item.line))
            if len(batch) >= batch_size:
                if not await flush():
                    report.aborted = True
                    return report
                if progress is not None:
                    progress(item.offset)
    except StreamError as exc:
        fail(exc.index, exc.line, str(exc).split(": ", 1)[1])
        report.aborted = True
        if on_error == "continue":
            await flush()  # the valid records read before the damage
        return report
    if not await flush():
        report.aborted = True
    return report


def export_record(user: User) -> dict[str, Any]:
    """A user in the import format: root profile, metadata, history and identities — never
    IdP tokens (they are readable one user at a time through the audited Management API)."""
    body: dict[str, Any] = {
        "user_id": user.user_id, "email": user.email, "email_verified": user.email_verified,
        "username": user.username, "name": user.name, "given_name": user.given_name,
        "family_name": user.family_name, "nickname": user.nickname, "picture": user.picture,
        "blocked": user.blocked, "app_metadata": user.app_metadata,
        "user_metadata": user.user_metadata, "created_at": iso_ms(user.created_at),
        "updated_at": iso_ms(user.updated_at), "last_login": iso_ms(user.last_login),
        "last_ip": user.last_ip, "logins_count": user.logins_count,
        "identities": [{"connection": i.connection, "provider": i.provider,
                        "user_id": i.idp_user_id, "isSocial": i.is_social}
                       for i in user.identities],
    }
    return {k: v for k, v in body.items() if v is not None}


async def export_users(rt: Runtime, out: IO[str], *, fmt: Literal["json", "ndjson"] = "json",
                       connection: str | None = None,
                       progress: Callable[[int], None] | None = None) -> int:
    """Write every user (of ``connection``, if given) to ``out``; return how many."""
    count = 0
    if fmt == "json":
        out.write("[")
    async for user in user_bulk.iter_users(rt.store, connection=connection):
        line = json.dumps(export_record(user), ensure_ascii=False, separators=(",", ":"))
        if fmt == "json":
            out.write(("\n" if count == 0 else ",\n") + line)
        else:
            out.write(line + "\n")
        count += 1
        if progress is not None and count % 1000 == 0:
            progress(1000)
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count
