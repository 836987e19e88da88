"""The one store interface the rest of the broker uses. SQL lives here and nowhere else.

Every sealed value is bound to its row by associated data (``_aad_*``), and every secret of
our own is looked up by its keyed digest, so the database never holds either in the clear.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from idbroker.clock import now_ms
from idbroker.errors import AccountConflict, Conflict
from idbroker.ids import new_id, time_ordered_id
from idbroker.vault import schema as t
from idbroker.vault.audit_writer import AuditWriter
from idbroker.vault.crypto import Vault
from idbroker.vault.db import sqlite_thread_engine
from idbroker.vault.hot_reads import HotReads
from idbroker.vault.records import (
    Client, ClientGrant, Connection, Identity, SigningKeyRecord, TokenSet, UpstreamProfile, User,
)

_CLIENT_FIELDS = ("name", "description", "app_type", "token_endpoint_auth_method", "callbacks",
                  "allowed_logout_urls", "web_origins", "grant_types", "is_first_party",
                  "token_exchange_connections")


SWEEP_EVERY_S = 30.0


def identity_aad(identity_id: str) -> str:
    return f"idbroker/identity-tokens/{identity_id}"


def _aad_connection(connection_id: str) -> str:
    return f"idbroker/connection-secrets/{connection_id}"


def _aad_transaction(state_digest: str) -> str:
    return f"idbroker/login-transaction/{state_digest}"


def _aad_signing_key(kid: str) -> str:
    return f"idbroker/signing-key/{kid}"


class _Batch:
    """The writes queued inside :meth:`Store.batch`, committed together at its end."""

    def __init__(self) -> None:
        self.statements: list[tuple[Any, dict[str, Any] | None]] = []

    async def execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> None:
        self.statements.append((statement, parameters))


_BATCH: ContextVar[_Batch | None] = ContextVar("idbroker_store_batch", default=None)
_T = TypeVar("_T")

# The writes of every login, built once with their values as execute() parameters: building a
# statement with .values(...) costs SQLAlchemy more CPU than running it (each value is coerced
# into a bound parameter and walked for the cache key), some 100 µs per login statement.
_UPDATE_IDENTITY = t.identities.update().where(t.identities.c.id == sa.bindparam("_id"))
_UPDATE_USER_LOGIN = t.users.update().where(
    t.users.c.user_id == sa.bindparam("_user_id")).values(
    logins_count=t.users.c.logins_count + 1)
_FENCE_REFRESH = t.identity_refresh.delete().where(
    t.identity_refresh.c.identity_id == sa.bindparam("_id"))


class Store:
    def __init__(self, engine: AsyncEngine, vault: Vault) -> None:
        self.engine = engine
        self.vault = vault
        # The hot-path reads (vault/hot_reads.py) and the audit group commit (audit_writer.py).
        self.reads = HotReads(engine)
        self.audit_writer = AuditWriter(engine)
        self._swept: dict[str, float] = {}
        self._thread_engine = sqlite_thread_engine(engine)

    async def close(self) -> None:
        """Write the audit records still queued, close the inline read connections, and
        dispose of the engine."""
        await self.audit_writer.drain()
        self.audit_writer.close()
        self.reads.close()
        if self._thread_engine is not None:
            self._thread_engine.dispose()
        await self.engine.dispose()

    # --- one transaction for the writes of one request ---------------------------------------

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Within this block, the writes that need no answer from the database (the end of a
        login: the identity's new tokens, the user's login stamp, the session, the grant, the
        authorization code) are queued and committed in one transaction when the block ends
        without an exception; if it raises, none of them is written. One commit instead of
        five per login is most of a login's database cost (a transaction through SQLAlchemy
        async is a few hundred µs of CPU, and on SQLite it takes the one write lock). A
        write whose outcome the code needs (a first login's INSERT, single-use markers,
        code redemption) still runs at once."""
        pending = _Batch()
        token = _BATCH.set(pending)
        try:
            yield
        finally:
            _BATCH.reset(token)
        await self._commit(pending.statements)

    async def flush(self) -> None:
        """Commit what the current batch has queued so far (before reading it back)."""
        pending = _BATCH.get()
        if pending is not None:
            statements, pending.statements = pending.statements, []
            await self._commit(statements)

    async def _commit(self, statements: list[tuple[Any, dict[str, Any] | None]]) -> None:
        def run(conn: sa.Connection) -> None:
            for statement, parameters in statements:
                conn.execute(statement, parameters)
        if statements:
            await self._in_thread(run)

    async def _in_thread(self, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work`` in one transaction. On SQLite, the whole of it in one worker thread
        on a blocking connection: through aiosqlite each statement is three or four hops
        between the event loop and aiosqlite's thread (cursor, execute, fetch, close; then
        commit), and each hop resumes the request's whole ASGI stack, some 50-100 µs of CPU
        apiece. The event loop never waits on the file or its write lock. On PostgreSQL
        (asyncpg is natively async) the same function runs on an async connection."""
        if self._thread_engine is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        return await asyncio.to_thread(self._blocking, work)

    def _blocking(self, work: Callable[[sa.Connection], _T]) -> _T:
        assert self._thread_engine is not None
        with self._thread_engine.begin() as conn:
            return work(conn)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Any]:
        """A transaction for writes whose results are not read: the current batch's queue if
        there is one, else a transaction of their own."""
        pending = _BATCH.get()
        if pending is not None:
            yield pending
            return
        async with self.engine.begin() as conn:
            yield conn

    # --- clients ---------------------------------------------------------------------------

    async def create_client(self, *, client_id: str, secret: str | None, **fields: Any) -> Client:
        stamp = now_ms()
        digest = self.vault.digest("client-secret", secret) if secret else None
        async with self.engine.begin() as conn:
            await conn.execute(t.clients.insert().values(
                client_id=client_id, secret_digest=digest, created_at=stamp, updated_at=stamp,
                **{k: fields[k] for k in _CLIENT_FIELDS if k in fields}))
        client = await self.get_client(client_id)
        assert client is not None
        return client

    async def get_client(self, client_id: str) -> Client | None:
        return await self.reads.client(client_id)

    async def list_clients(self) -> list[Client]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(t.clients).order_by(t.clients.c.created_at))
        return [Client(**row._mapping) for row in rows]

    async def update_client(self, client_id: str, changes: dict[str, Any],
                            secret: str | None = None, clear_secret: bool = False) -> Client | None:
        values = {k: v for k, v in changes.items() if k in _CLIENT_FIELDS}
        if secret is not None:
            values["secret_digest"] = self.vault.digest("client-secret", secret)
        elif clear_secret:
            values["secret_digest"] = None
        values["updated_at"] = now_ms()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.clients.update().where(t.clients.c.client_id == client_id).values(**values))
        return await self.get_client(client_id) if result.rowcount else None

    async def delete_client(self, client_id: str) -> bool:
        async with self.engine.begin() as conn:
            await conn.execute(t.client_grants.delete().where(t.client_grants.c.client_id == client_id))
            # People's consents to this app go with it: an app created later under the same id
            # (an import, say) must ask again.
            await conn.execute(t.consents.delete().where(t.consents.c.client_id == client_id))
            result = await conn.execute(t.clients.delete().where(t.clients.c.client_id == client_id))
            rows = await conn.execute(sa.select(t.connections.c.id, t.connections.c.enabled_clients))
            for connection_id, enabled in list(rows):
                if client_id in enabled:
                    await conn.execute(t.connections.update().where(
                        t.connections.c.id == connection_id).values(
                        enabled_clients=[c for c in enabled if c != client_id]))
        return bool(result.rowcount)

    def _sweep_due(self, table: str) -> bool:
        """Expired rows are deleted by the next write at most every SWEEP_EVERY_S per
        process, not by every login: they are refused by their expiry anyway, and the
        DELETE was one of the statements each login paid for."""
        clock = time.monotonic()
        if clock - self._swept.get(table, float("-inf")) < SWEEP_EVERY_S:
            return False
        self._swept[table] = clock
        return True

    def client_secret_matches(self, client: Client, secret: str) -> bool:
        if client.secret_digest is None:
            return False
        return self.vault.verify_digest("client-secret", secret, client.secret_digest)

    # --- connections -----------------------------------------------------------------------

    def _connection(self, row: Any) -> Connection:
        data = dict(row._mapping)
        sealed = data.pop("secrets_sealed")
        secrets = json.loads(self.vault.open(sealed, _aad_connection(data["id"]))) if sealed else {}
        return Connection(**data, secrets=secrets)

    async def create_connection(self, *, name: str, strategy: str, options: dict[str, Any],
                                secrets: dict[str, str], enabled_clients: list[str],
                                display_name: str | None) -> Connection:
        connection_id = new_id("con_")
        stamp = now_ms()
        sealed = self.vault.seal(json.dumps(secrets).encode(), _aad_connection(connection_id))
        try:
            async with self.engine.begin() as conn:
                await conn.execute(t.connections.insert().values(
                    id=connection_id, name=name, strategy=strategy, options=options,
                    secrets_sealed=sealed, enabled_clients=enabled_clients,
                    display_name=display_name, created_at=stamp, updated_at=stamp))
        except IntegrityError as exc:
            raise Conflict("A connection with the same name already exists",
                           error_code="connection_conflict") from exc
        found = await self.get_connection(connection_id)
        assert found is not None
        return found

    async def get_connection(self, connection_id: str) -> Connection | None:
        # Every login reads it (and list_connections): one hop each (Store._in_thread).
        row = await self._in_thread(lambda conn: conn.execute(
            sa.select(t.connections).where(t.connections.c.id == connection_id)).first())
        return self._connection(row) if row else None

    async def get_connection_by_name(self, name: str) -> Connection | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(t.connections).where(t.connections.c.name == name))).first()
        return self._connection(row) if row else None

    async def list_connections(self, strategy: str | None = None) -> list[Connection]:
        query = sa.select(t.connections).order_by(t.connections.c.created_at)
        if strategy:
            query = query.where(t.connections.c.strategy == strategy)
        rows = await self._in_thread(lambda conn: conn.execute(query).all())
        return [self._connection(row) for row in rows]

    async def update_connection(self, connection_id: str, *, options: dict[str, Any] | None = None,
                                secrets: dict[str, str] | None = None,
                                enabled_clients: list[str] | None = None,
                                display_name: str | None = None) -> Connection | None:
        values: dict[str, Any] = {"updated_at": now_ms()}
        if options is not None:
            values["options"] = options
        if secrets is not None:
            values["secrets_sealed"] = self.vault.seal(
                json.dumps(secrets).encode(), _aad_connection(connection_id))
        if enabled_clients is not None:
            values["enabled_clients"] = enabled_clients
        if display_name is not None:
            values["display_name"] = display_name
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.connections.update().where(t.connections.c.id == connection_id).values(**values))
        return await self.get_connection(connection_id) if result.rowcount else None

    async def delete_connection(self, connection_id: str) -> bool:
        """Delete a connection with its identities, and the users left with none (as Auth0
        does), so a later connection of the same name starts from a clean slate."""
        async with self.engine.begin() as conn:
            owners = list((await conn.execute(sa.select(t.identities.c.user_id).where(
                t.identities.c.connection_id == connection_id))).scalars())
            await conn.execute(t.identities.delete().where(
                t.identities.c.connection_id == connection_id))
            if owners:
                await conn.execute(t.users.delete().where(
                    t.users.c.user_id.in_(owners),
                    t.users.c.user_id.not_in(sa.select(t.identities.c.user_id))))
            result = await conn.execute(
                t.connections.delete().where(t.connections.c.id == connection_id))
        return bool(result.rowcount)

    # --- client grants ---------------------------------------------------------------------

    async def create_client_grant(self, client_id: str, audience: str, scope: list[str]) -> ClientGrant:
        grant = ClientGrant(id=new_id("cgr_"), client_id=client_id, audience=audience, scope=scope)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(t.client_grants.insert().values(
                    id=grant.id, client_id=client_id, audience=audience, scope=scope,
                    created_at=now_ms()))
        except IntegrityError as exc:
            raise Conflict("A client grant for this client and audience already exists",
                           error_code="client_grant_conflict") from exc
        return grant

    async def list_client_grants(self, *, client_id: str | None = None,
                                 audience: str | None = None) -> list[ClientGrant]:
        if client_id:
            return await self.reads.client_grants(client_id, audience or None)
        query = sa.select(t.client_grants.c.id, t.client_grants.c.client_id,
                          t.client_grants.c.audience, t.client_grants.c.scope
                          ).order_by(t.client_grants.c.created_at)
        if client_id:
            query = query.where(t.client_grants.c.client_id == client_id)
        if audience:
            query = query.where(t.client_grants.c.audience == audience)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
        return [ClientGrant(**row._mapping) for row in rows]

    async def get_client_grant(self, grant_id: str) -> ClientGrant | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(
                t.client_grants.c.id, t.client_grants.c.client_id, t.client_grants.c.audience,
                t.client_grants.c.scope).where(t.client_grants.c.id == grant_id))).first()
        return ClientGrant(**row._mapping) if row else None

    async def update_client_grant(self, grant_id: str, scope: list[str]) -> ClientGrant | None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.client_grants.update().where(t.client_grants.c.id == grant_id).values(scope=scope))
        return await self.get_client_grant(grant_id) if result.rowcount else None

    async def delete_client_grant(self, grant_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(t.client_grants.delete().where(t.client_grants.c.id == grant_id))
        return bool(result.rowcount)

    # --- signing keys ----------------------------------------------------------------------

    async def list_signing_keys(self) -> list[SigningKeyRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(
                t.signing_keys.c.kid, t.signing_keys.c.private_sealed, t.signing_keys.c.public_jwk,
                t.signing_keys.c.status, t.signing_keys.c.created_at,
            ).order_by(t.signing_keys.c.created_at))
        return [SigningKeyRecord(**row._mapping) for row in rows]

    async def add_signing_key(self, kid: str, private_pem: bytes, public_jwk: dict[str, Any],
                              status: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(t.signing_keys.insert().values(
                kid=kid, private_sealed=self.vault.seal(private_pem, _aad_signing_key(kid)),
                public_jwk=public_jwk, status=status, created_at=now_ms()))

    def open_signing_key(self, record: SigningKeyRecord) -> bytes:
        return self.vault.open(record.private_sealed, _aad_signing_key(record.kid))

    # --- login transactions (the state of one trip to an upstream IdP) ----------------------

    async def put_transaction(self, state: str, data: dict[str, Any], ttl_s: int) -> None:
        digest = self.vault.digest("login-state", state)
        sealed = self.vault.seal(json.dumps(data).encode(), _aad_transaction(digest))
        stamp = now_ms()
        async with self.engine.begin() as conn:
            if self._sweep_due("login_transactions"):
                await conn.execute(t.login_transactions.delete().where(
                    t.login_transactions.c.expires_at < stamp))
            await conn.execute(t.login_transactions.insert().values(
                state_digest=digest, sealed=sealed, expires_at=stamp + ttl_s * 1000))

    async def take_transaction(self, state: str,
                               binding: str) -> tuple[dict[str, Any] | None, str]:
        """Return and delete in one step: a state is good for exactly one callback, from the
        browser that started it. A wrong browser does not burn the real one's transaction.
        The second value says why nothing was returned ("unknown", "expired", "browser")."""
        digests = self.vault.digests("login-state", state)
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(t.login_transactions).where(
                t.login_transactions.c.state_digest.in_(digests)))).first()
            if row is None:
                return None, "unknown"
            data = json.loads(self.vault.open(row.sealed, _aad_transaction(row.state_digest)))
            if not hmac.compare_digest(binding, data.get("binding", "")):
                return None, "browser"
            deleted = await conn.execute(t.login_transactions.delete().where(
                t.login_transactions.c.state_digest == row.state_digest))
        if deleted.rowcount != 1:
            return None, "unknown"
        if row.expires_at < now_ms():
            return None, "expired"
        return data, "ok"

    async def consume_login_state(self, state: str, expires_at_ms: int) -> bool:
        """Mark the state of a cookie-carried login transaction (oauth/login_transaction.py)
        used; False if it already was. The primary key (the state's keyed digest) makes the
        first callback win on SQLite and PostgreSQL alike. Markers are swept once the state
        has expired, after which the sealed cookie is refused by its own expiry anyway."""
        digests = self.vault.digests("login-state", state)
        sweep = self._sweep_due("login_states_used")

        def mark(conn: sa.Connection) -> bool:
            if sweep:
                conn.execute(t.login_states_used.delete().where(
                    t.login_states_used.c.expires_at < now_ms()))
            if len(digests) > 1:
                # During a vault-key rotation a marker may carry an older key's digest.
                seen = conn.execute(sa.select(t.login_states_used.c.state_digest).where(
                    t.login_states_used.c.state_digest.in_(digests[1:]))).first()
                if seen is not None:
                    return False
            conn.execute(t.login_states_used.insert(), {
                "state_digest": digests[0], "expires_at": expires_at_ms})
            return True
        try:
            return await self._in_thread(mark)
        except IntegrityError:
            return False

    async def login_state_used(self, state: str) -> bool:
        digests = self.vault.digests("login-state", state)
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.login_states_used.c.state_digest).where(
                t.login_states_used.c.state_digest.in_(digests)))).first()
        return row is not None

    # --- users and identities --------------------------------------------------------------

    async def record_login(self, *, connection: Connection, provider: str, issuer: str,
                           subject: str, idp_user_id: str, is_social: bool,
                           profile: UpstreamProfile, tokens: TokenSet, ip: str | None,
                           requested_scopes: list[str] | None = None) -> str:
        """Create or update the user behind (connection, issuer, upstream subject); return the
        user_id.

        The upstream account is found by its subject, never by email. A repeat login refreshes
        the profile and tokens but keeps the stored refresh token when the upstream sent none.
        Granted scopes (incremental consent, docs/token-refresh.md): the token response's
        ``scope`` is authoritative; without one, the requested scopes were granted (RFC 6749
        §5.1), added to those granted before.
        """
        login = dict(connection=connection, provider=provider, issuer=issuer, subject=subject,
                     idp_user_id=idp_user_id, is_social=is_social, profile=profile,
                     tokens=tokens, ip=ip, requested_scopes=requested_scopes)
        try:
            return await self._record_login_once(**login)
        except IntegrityError:
            pass
        # Two first logins of one upstream account raced and the other inserted it: this
        # attempt now finds the identity and takes the update path.
        try:
            return await self._record_login_once(**login)
        except IntegrityError as exc:
            # The user_id is taken by an account of another upstream (e.g. a connection
            # re-pointed at a different IdP). Never merge the two: refuse the login.
            raise AccountConflict(detail=f"user_id {provider}|{idp_user_id} taken") from exc

    async def _record_login_once(self, *, connection: Connection, provider: str, issuer: str,
                                 subject: str, idp_user_id: str, is_social: bool,
                                 profile: UpstreamProfile, tokens: TokenSet, ip: str | None,
                                 requested_scopes: list[str] | None) -> str:
        stamp = now_ms()

        def find(conn: sa.Connection) -> tuple[Identity | None, bool]:
            row = conn.execute(sa.select(t.identities).where(
                t.identities.c.connection_id == connection.id,
                t.identities.c.issuer == issuer,
                t.identities.c.subject == subject)).first()
            if row is None:
                return None, False
            identity = Identity(**row._mapping)
            first = conn.execute(sa.select(t.identities.c.id).where(
                t.identities.c.user_id == identity.user_id).order_by(
                t.identities.c.created_at, t.identities.c.id).limit(1)).scalar_one()
            return identity, first == identity.id

        # The reads in one hop (Store._in_thread); sealing stays on the event loop's thread.
        identity, primary = await self._in_thread(find)
        if identity is None:
            tokens.scope = tokens.scope or list(requested_scopes or [])
            return await self._first_login(
                connection=connection, provider=provider, issuer=issuer,
                subject=subject, idp_user_id=idp_user_id, is_social=is_social,
                profile=profile, tokens=tokens, ip=ip, stamp=stamp)
        if not tokens.scope:
            tokens.scope = list(dict.fromkeys(
                [*identity.granted_scopes, *(requested_scopes or [])]))
        if identity.tokens_sealed and not tokens.refresh_token:
            previous = self.open_tokens(identity)
            tokens.refresh_token = previous.refresh_token if previous else None
        if profile.kept:
            profile = _keep_stored(profile, identity.profile_data or {})
        writes: list[tuple[Any, dict[str, Any] | None]] = [
            # New tokens: forget refresh failures and fence out an in-flight refresh of
            # the old grant (lifecycle/refresh.py), so it cannot overwrite these.
            (_FENCE_REFRESH, {"_id": identity.id}),
            (_UPDATE_IDENTITY, {
                "_id": identity.id, "profile_data": _profile_data(profile), "updated_at": stamp,
                **self._sealed_tokens(identity.id, tokens)}),
            (_UPDATE_USER_LOGIN, {
                "_user_id": identity.user_id, **(_root_profile(profile) if primary else {}),
                "updated_at": stamp, "last_login": stamp, "last_ip": ip}),
        ]
        batch = _BATCH.get()
        if batch is not None:
            # Inside Store.batch they go with the rest of the login's writes.
            batch.statements.extend(writes)
        else:
            await self._commit(writes)
        return identity.user_id

    async def _first_login(self, *, connection: Connection, provider: str,
                           issuer: str, subject: str, idp_user_id: str, is_social: bool,
                           profile: UpstreamProfile, tokens: TokenSet, ip: str | None,
                           stamp: int) -> str:
        identity_id = new_id("idn_")
        user_id = f"{provider}|{idp_user_id}"
        user = t.users.insert().values(
            user_id=user_id, **_root_profile(profile), app_metadata={}, user_metadata={},
            blocked=False, created_at=stamp, updated_at=stamp, last_login=stamp, last_ip=ip,
            logins_count=1)
        identity = t.identities.insert().values(
            id=identity_id, user_id=user_id, connection_id=connection.id,
            connection=connection.name, provider=provider, issuer=issuer, subject=subject,
            idp_user_id=idp_user_id, is_social=is_social, profile_data=_profile_data(profile),
            created_at=stamp, updated_at=stamp, **self._sealed_tokens(identity_id, tokens))

        def insert(conn: sa.Connection) -> None:
            conn.execute(user)
            conn.execute(identity)
        # At once, not batched: a concurrent first login of the same account must meet the
        # unique constraints here, where record_login retries (IntegrityError).
        await self._in_thread(insert)
        return user_id

    def _sealed_tokens(self, identity_id: str, tokens: TokenSet) -> dict[str, Any]:
        has_tokens = bool(tokens.access_token or tokens.refresh_token)
        return {
            "tokens_sealed": self.vault.seal(tokens.to_json(), identity_aad(identity_id)),
            "token_expires_at": tokens.expires_at * 1000 if tokens.expires_at else None,
            "granted_scopes": tokens.scope,
            "token_status": "active" if has_tokens else "none",
        }

    def open_tokens(self, identity: Identity) -> TokenSet | None:
        if not identity.tokens_sealed:
            return None
        return TokenSet.from_json(self.vault.open(identity.tokens_sealed, identity_aad(identity.id)))

    async def get_user(self, user_id: str) -> User | None:
        return await self.reads.user(user_id)

    # --- authorization codes, grants and refresh tokens ------------------------------------

    async def create_grant(self, client_id: str, user_id: str) -> str:
        grant_id = new_id("gr_")
        async with self.writing() as conn:
            await conn.execute(t.grants.insert(), {
                "id": grant_id, "client_id": client_id, "user_id": user_id, "revoked": False,
                "created_at": now_ms()})
        return grant_id

    async def grant_is_active(self, grant_id: str) -> bool:
        async with self.engine.connect() as conn:
            revoked = (await conn.execute(sa.select(t.grants.c.revoked).where(
                t.grants.c.id == grant_id))).scalar_one_or_none()
        return revoked is False

    async def revoke_grant(self, grant_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(t.grants.update().where(t.grants.c.id == grant_id).values(revoked=True))
            await conn.execute(t.refresh_tokens.update().where(
                t.refresh_tokens.c.grant_id == grant_id).values(used=True))

    async def put_code(self, code: str, *, client_id: str, user_id: str, grant_id: str,
                       data: dict[str, Any], ttl_s: int) -> None:
        async with self.writing() as conn:
            if self._sweep_due("authorization_codes"):
                await conn.execute(t.authorization_codes.delete().where(
                    t.authorization_codes.c.expires_at < now_ms() - 3600_000))
            await conn.execute(t.authorization_codes.insert(), {
                "code_digest": self.vault.digest("authorization-code", code),
                "client_id": client_id, "user_id": user_id, "grant_id": grant_id, "data": data,
                "expires_at": now_ms() + ttl_s * 1000, "consumed": False})

    async def consume_code(self, code: str) -> tuple[dict[str, Any] | None, bool]:
        """Return (code row, first_use). A conditional UPDATE makes redemption single-use even
        when many requests race for the same code, on SQLite and PostgreSQL alike."""
        digests = self.vault.digests("authorization-code", code)

        def redeem(conn: sa.Connection) -> tuple[dict[str, Any] | None, bool]:
            # RETURNING (SQLite 3.35+, PostgreSQL): the winner reads the row in the same
            # statement; only a loser (replay, unknown code) needs the second one.
            won = conn.execute(t.authorization_codes.update().where(
                t.authorization_codes.c.code_digest.in_(digests),
                t.authorization_codes.c.consumed.is_(False)).values(consumed=True).returning(
                *t.authorization_codes.c)).first()
            if won is not None:
                return dict(won._mapping), True
            row = conn.execute(sa.select(t.authorization_codes).where(
                t.authorization_codes.c.code_digest.in_(digests))).first()
            return (dict(row._mapping) if row else None), False
        return await self._in_thread(redeem)

    async def put_refresh_token(self, token: str, *, grant_id: str, client_id: str, user_id: str,
                                data: dict[str, Any], ttl_s: int) -> None:
        stamp = now_ms()
        values = {
            "token_digest": self.vault.digest("refresh-token", token), "grant_id": grant_id,
            "client_id": client_id, "user_id": user_id, "data": data, "used": False,
            "expires_at": stamp + ttl_s * 1000, "created_at": stamp}
        await self._in_thread(lambda conn: conn.execute(t.refresh_tokens.insert(), values))

    async def use_refresh_token(self, token: str) -> tuple[dict[str, Any] | None, bool]:
        """Mark a refresh token used; return (row, first_use) as ``consume_code`` does."""
        digests = self.vault.digests("refresh-token", token)
        async with self.engine.begin() as conn:
            won = await conn.execute(t.refresh_tokens.update().where(
                t.refresh_tokens.c.token_digest.in_(digests),
                t.refresh_tokens.c.used.is_(False)).values(used=True))
            row = (await conn.execute(sa.select(t.refresh_tokens).where(
                t.refresh_tokens.c.token_digest.in_(digests)))).first()
        return (dict(row._mapping) if row else None), won.rowcount == 1

    async def find_refresh_token(self, token: str) -> dict[str, Any] | None:
        digests = self.vault.digests("refresh-token", token)
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.refresh_tokens).where(
                t.refresh_tokens.c.token_digest.in_(digests)))).first()
        return dict(row._mapping) if row else None

    # --- audit -----------------------------------------------------------------------------

    async def audit(self, type_: str, *, description: str, client_id: str | None = None,
                    user_id: str | None = None, connection: str | None = None,
                    ip: str | None = None, details: dict[str, Any] | None = None) -> None:
        # Committed before this returns; shares its transaction with concurrent records.
        date = now_ms()
        await self.audit_writer.write(dict(
            id=time_ordered_id("log_", date), date=date, type=type_, client_id=client_id,
            user_id=user_id, connection=connection, ip=ip, description=description,
            details=details or {}))

    async def list_audit(self, user_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = sa.select(t.audit_log).order_by(t.audit_log.c.date.desc()).limit(limit)
        if user_id:
            query = query.where(t.audit_log.c.user_id == user_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
        return [dict(row._mapping) for row in rows]


def _root_profile(profile: UpstreamProfile) -> dict[str, Any]:
    return {
        # Lower-cased so user search and users-by-email match case-insensitively on an index.
        "email": profile.email.lower() if profile.email else None,
        "email_verified": profile.email_verified,
        "username": profile.username, "name": profile.name, "given_name": profile.given_name,
        "family_name": profile.family_name, "nickname": profile.nickname,
        "picture": profile.picture, "extra": profile.extra,
    }


def _keep_stored(profile: UpstreamProfile, stored: dict[str, Any]) -> UpstreamProfile:
    """The stored value of each ``kept`` root field this login did not really carry."""
    kept = {k: stored[k] for k in profile.kept
            if k in _KEEPABLE and isinstance(stored.get(k), str) and stored[k]}
    return dataclasses.replace(profile, **kept)


_KEEPABLE = frozenset({"name", "given_name", "family_name", "nickname", "picture"})


def _profile_data(profile: UpstreamProfile) -> dict[str, Any]:
    data = {k: v for k, v in _root_profile(profile).items() if k != "extra" and v is not None}
    return {**profile.extra, **data}
