"""Recording a login: the user and identity behind an upstream account, created on the first
login and refreshed on each later one, with the identity's upstream tokens sealed and bound to
the identity row."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idbroker.clock import now_ms
from idbroker.errors import AccountConflict
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.records import Connection, Identity, TokenSet, UpstreamProfile, User
from idbroker.vault.store_base import CURRENT_BATCH, StoreBase


def identity_aad(identity_id: str) -> str:
    return f"idbroker/identity-tokens/{identity_id}"


# The writes of every login, built once with their values as execute() parameters: building a
# statement with .values(...) costs SQLAlchemy more CPU than running it (each value is coerced
# into a bound parameter and walked for the cache key), some 100 µs per login statement.
_UPDATE_IDENTITY = t.identities.update().where(t.identities.c.id == sa.bindparam("_id"))
_UPDATE_USER_LOGIN = t.users.update().where(
    t.users.c.user_id == sa.bindparam("_user_id")).values(
    logins_count=t.users.c.logins_count + 1)
_FENCE_REFRESH = t.identity_refresh.delete().where(
    t.identity_refresh.c.identity_id == sa.bindparam("_id"))


class LoginStore(StoreBase):
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
        batch = CURRENT_BATCH.get()
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
