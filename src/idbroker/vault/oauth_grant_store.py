"""The broker's own OAuth grants (one per person and client), the authorization codes and
refresh tokens issued under them. Codes and refresh tokens are kept only as their keyed digests,
and each is redeemed once, even by racing requests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from idbroker.clock import now_ms
from idbroker.ids import new_id
from idbroker.vault import schema as t
from idbroker.vault.store_base import StoreBase


class OAuthGrantStore(StoreBase):
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
