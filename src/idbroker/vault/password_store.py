"""Storage of database-connection accounts: password hashes, single-use tickets and failed-login
counters (dbconn/). The password is never given to this module, only its argon2id hash; a
ticket only as the keyed digest that finds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.errors import Conflict
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.records import Connection
from idbroker.vault.store import Store
from idbroker.vault.user_writes import revoke_user_grants

# The identities.issuer of a database account: the broker itself is the authority.
DATABASE_ISSUER = "idbroker:database"
_TICKET_PURPOSE = "credential-ticket"


@dataclass(frozen=True, slots=True)
class Credential:
    user_id: str
    connection_id: str
    email: str | None
    username: str | None
    password_hash: str


@dataclass(frozen=True, slots=True)
class Ticket:
    kind: str
    user_id: str
    connection_id: str
    client_id: str | None
    binding_digest: str | None


# --- accounts ------------------------------------------------------------------------------


async def create_account(store: Store, *, connection: Connection, subject: str,
                         root: dict[str, Any], email: str | None, username: str | None,
                         password_hash: str, user_metadata: dict[str, Any],
                         app_metadata: dict[str, Any] | None = None) -> str:
    """User, identity and credential in one transaction. Raises Conflict when the email or
    username is taken in this connection."""
    stamp = now_ms()
    user_id = f"auth0|{subject}"
    profile = {k: v for k, v in root.items() if v is not None and k != "blocked"}
    try:
        async with store.engine.begin() as conn:
            await conn.execute(t.users.insert().values(
                user_id=user_id, email=root.get("email"),
                email_verified=bool(root.get("email_verified")), username=root.get("username"),
                name=root.get("name"), given_name=root.get("given_name"),
                family_name=root.get("family_name"), nickname=root.get("nickname"),
                picture=root.get("picture"), extra={}, app_metadata=app_metadata or {},
                user_metadata=user_metadata, blocked=bool(root.get("blocked")),
                created_at=stamp, updated_at=stamp, last_login=None, last_ip=None,
                logins_count=0))
            await conn.execute(t.identities.insert().values(
                id=new_id("idn_"), user_id=user_id, connection_id=connection.id,
                connection=connection.name, provider="auth0", issuer=DATABASE_ISSUER,
                subject=subject, idp_user_id=subject, is_social=False, profile_data=profile,
                tokens_sealed=None, token_expires_at=None, granted_scopes=[],
                token_status="none", created_at=stamp, updated_at=stamp))
            await conn.execute(t.password_credentials.insert().values(
                user_id=user_id, connection_id=connection.id, email=email, username=username,
                password_hash=password_hash, created_at=stamp, updated_at=stamp))
    except IntegrityError as exc:
        raise Conflict("The user already exists.", error_code="auth0_idp_error") from exc
    return user_id


def _credential(row: Any) -> Credential:
    return Credential(user_id=row.user_id, connection_id=row.connection_id, email=row.email,
                      username=row.username, password_hash=row.password_hash)


async def find_credential(store: Store, connection_id: str, identifier: str) -> Credential | None:
    """The account whose (normalised) email or username is ``identifier``."""
    c = t.password_credentials.c
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.password_credentials).where(
            c.connection_id == connection_id,
            sa.or_(c.email == identifier, c.username == identifier)).limit(1))).first()
    return _credential(row) if row else None


async def credentials_of(store: Store, user_id: str) -> list[Credential]:
    """The user's database accounts: usually one; more after accounts were linked."""
    c = t.password_credentials.c
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(t.password_credentials).where(
            c.user_id == user_id).order_by(c.created_at, c.connection_id))
    return [_credential(row) for row in rows]


async def credential_of(store: Store, user_id: str,
                        connection_id: str | None = None) -> Credential | None:
    """The user's account in ``connection_id``, or (without it) the oldest one."""
    found = [c for c in await credentials_of(store, user_id)
             if connection_id is None or c.connection_id == connection_id]
    return found[0] if found else None


async def rehash(store: Store, user_id: str, old_hash: str, new_hash: str) -> None:
    """Replace a hash made with old parameters, unless the password changed meanwhile."""
    c = t.password_credentials.c
    async with store.engine.begin() as conn:
        await conn.execute(t.password_credentials.update().where(
            c.user_id == user_id, c.password_hash == old_hash).values(
            password_hash=new_hash, updated_at=now_ms()))


async def set_password(store: Store, user_id: str, connection_id: str, password_hash: str, *,
                       end_sessions: bool) -> bool:
    """A new password; with ``end_sessions`` also end the user's login sessions and revoke
    every grant, refresh token and unredeemed code (the old password may have been known to
    someone else)."""
    async with store.engine.begin() as conn:
        result = await conn.execute(t.password_credentials.update().where(
            t.password_credentials.c.user_id == user_id,
            t.password_credentials.c.connection_id == connection_id).values(
            password_hash=password_hash, updated_at=now_ms()))
        if not result.rowcount:
            return False
        if end_sessions:
            await revoke_user_grants(conn, user_id)
            # The broker's own login sessions (SSO cookies) of this user end too.
            await conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))
    return True


async def set_identifiers(store: Store, user_id: str, connection_id: str, *,
                          email: str | None | object = ...,
                          username: str | None | object = ...) -> None:
    """Keep the login identifiers in step with the profile after an administrator's change."""
    values: dict[str, Any] = {}
    if email is not ...:
        values["email"] = email
    if username is not ...:
        values["username"] = username
    if not values:
        return
    try:
        async with store.engine.begin() as conn:
            await conn.execute(t.password_credentials.update().where(
                t.password_credentials.c.user_id == user_id,
                t.password_credentials.c.connection_id == connection_id).values(
                **values, updated_at=now_ms()))
    except IntegrityError as exc:
        raise Conflict("The user already exists.", error_code="auth0_idp_error") from exc


async def mark_email_verified(store: Store, user_id: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(t.users.update().where(t.users.c.user_id == user_id).values(
            email_verified=True, updated_at=now_ms()))


# --- single-use tickets --------------------------------------------------------------------


async def put_ticket(store: Store, ticket: str, *, kind: str, user_id: str, connection_id: str,
                     ttl_s: int, client_id: str | None = None,
                     binding: str | None = None) -> None:
    stamp = now_ms()
    binding_digest = store.vault.digest("login-ticket-binding", binding) if binding else None
    async with store.engine.begin() as conn:
        await conn.execute(t.credential_tickets.delete().where(
            t.credential_tickets.c.expires_at < stamp))
        await conn.execute(t.credential_tickets.insert().values(
            digest=store.vault.digest(_TICKET_PURPOSE, f"{kind}:{ticket}"), kind=kind,
            user_id=user_id, connection_id=connection_id, client_id=client_id,
            binding_digest=binding_digest, consumed=False, expires_at=stamp + ttl_s * 1000,
            created_at=stamp))


async def peek_ticket(store: Store, ticket: str, kind: str) -> Ticket | None:
    """A live, unused ticket, without using it (to show the page it leads to)."""
    c = t.credential_tickets.c
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.credential_tickets).where(
            c.digest.in_(store.vault.digests(_TICKET_PURPOSE, f"{kind}:{ticket}")),
            c.kind == kind, c.consumed.is_(False), c.expires_at >= now_ms()))).first()
    return _ticket(row) if row else None


async def take_ticket(store: Store, ticket: str, kind: str) -> Ticket | None:
    """Use a ticket: exactly one caller wins the conditional update; an expired, used or
    unknown ticket returns None."""
    c = t.credential_tickets.c
    digests = store.vault.digests(_TICKET_PURPOSE, f"{kind}:{ticket}")
    async with store.engine.begin() as conn:
        row = (await conn.execute(sa.select(t.credential_tickets).where(
            c.digest.in_(digests), c.kind == kind))).first()
        if row is None or row.consumed or row.expires_at < now_ms():
            return None
        won = await conn.execute(t.credential_tickets.update().where(
            c.digest == row.digest, c.consumed.is_(False)).values(consumed=True))
    return _ticket(row) if won.rowcount == 1 else None


def binding_matches(store: Store, ticket: Ticket, binding: str) -> bool:
    if ticket.binding_digest is None:
        return True
    return store.vault.verify_digest("login-ticket-binding", binding, ticket.binding_digest)


async def ticket_issued_since(store: Store, user_id: str, kind: str, since_ms: int) -> bool:
    c = t.credential_tickets.c
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(c.digest).where(
            c.user_id == user_id, c.kind == kind, c.created_at >= since_ms).limit(1))).first()
    return row is not None


async def drop_tickets(store: Store, user_id: str, kind: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(t.credential_tickets.delete().where(
            t.credential_tickets.c.user_id == user_id, t.credential_tickets.c.kind == kind))


def _ticket(row: Any) -> Ticket:
    return Ticket(kind=row.kind, user_id=row.user_id, connection_id=row.connection_id,
                  client_id=row.client_id, binding_digest=row.binding_digest)


# --- failed-login counters -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failures:
    failures: int
    window_start: int
    blocked_at: int | None


async def failures_of(store: Store, account: str, ip: str) -> Failures | None:
    c = t.login_failures.c
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(t.login_failures).where(
            c.account == account, c.ip == ip))).first()
    return Failures(row.failures, row.window_start, row.blocked_at) if row else None


async def count_failure(store: Store, account: str, ip: str, *, window_ms: int | None,
                        block_at: int) -> Failures:
    """One more failure for (account, ip). With ``window_ms`` the count restarts when the
    window is over; the row is marked blocked when the count reaches ``block_at``. The
    increment is one UPDATE, so concurrent failures from several processes all count."""
    c = t.login_failures.c
    stamp = now_ms()
    for _ in range(2):
        try:
            async with store.engine.begin() as conn:
                if window_ms is not None:
                    await conn.execute(t.login_failures.update().where(
                        c.account == account, c.ip == ip,
                        c.window_start < stamp - window_ms).values(
                        failures=0, window_start=stamp, blocked_at=None))
                result = await conn.execute(t.login_failures.update().where(
                    c.account == account, c.ip == ip).values(
                    failures=c.failures + 1, updated_at=stamp))
                if not result.rowcount:
                    await conn.execute(t.login_failures.insert().values(
                        account=account, ip=ip, failures=1, window_start=stamp,
                        blocked_at=None, updated_at=stamp))
                await conn.execute(t.login_failures.update().where(
                    c.account == account, c.ip == ip, c.failures >= block_at,
                    c.blocked_at.is_(None)).values(blocked_at=stamp))
                row = (await conn.execute(sa.select(t.login_failures).where(
                    c.account == account, c.ip == ip))).one()
                return Failures(row.failures, row.window_start, row.blocked_at)
        except IntegrityError:
            continue  # another process inserted the row first: count on it
    raise RuntimeError("failed-login counter could not be written")


async def clear_failures(store: Store, account: str, ip: str | None = None) -> None:
    """Forget failures of ``account`` from ``ip``, or from every address."""
    c = t.login_failures.c
    condition = c.account == account if ip is None else sa.and_(c.account == account, c.ip == ip)
    async with store.engine.begin() as conn:
        await conn.execute(t.login_failures.delete().where(condition))


async def purge_failures(store: Store, older_than_ms: int) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(t.login_failures.delete().where(
            t.login_failures.c.updated_at < older_than_ms))


async def note_login(store: Store, user_id: str, ip: str | None) -> None:
    """Login bookkeeping a database login shares with upstream logins (last_login,
    last_ip, logins_count)."""
    stamp = now_ms()
    async with store.engine.begin() as conn:
        await conn.execute(t.users.update().where(t.users.c.user_id == user_id).values(
            last_login=stamp, last_ip=ip, logins_count=t.users.c.logins_count + 1,
            updated_at=stamp))


async def blocked_addresses(store: Store, accounts: list[str], since_ms: int
                            ) -> list[tuple[str, str]]:
    """(account, address) pairs blocked at or after ``since_ms``."""
    if not accounts:
        return []
    c = t.login_failures.c
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(c.account, c.ip).where(
            c.account.in_(accounts), c.blocked_at.is_not(None),
            c.blocked_at >= since_ms).order_by(c.blocked_at))
    return [(row.account, row.ip) for row in rows]
