"""The broker's token-signing keys; each private key is sealed, bound to its ``kid``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from idbroker.clock import now_ms
from idbroker.vault import schema as t
from idbroker.vault.records import SigningKeyRecord
from idbroker.vault.store_base import StoreBase


def _aad_signing_key(kid: str) -> str:
    return f"idbroker/signing-key/{kid}"


class SigningKeyStore(StoreBase):
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
