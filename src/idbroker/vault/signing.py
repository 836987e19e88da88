"""RS256 signing keys, loaded once and kept as key objects.

Parsing a PEM costs far more than a signature, so keys are parsed at start-up and on rotation
only (see perf_anchors.md). The published JWKS holds RSA keys only, each with a ``kid``:
auth0-python's JWKS fetcher fails on anything else.
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import RSAKey

from idbroker.vault.store import Store

PUBLISHED = ("current", "next", "previous")


class SigningKeys:
    def __init__(self) -> None:
        self.current: RSAKey | None = None
        self.by_kid: dict[str, RSAKey] = {}
        self.jwks: dict[str, Any] = {"keys": []}

    async def load(self, store: Store) -> None:
        records = await store.list_signing_keys()
        by_kid: dict[str, RSAKey] = {}
        current = None
        published = []
        for record in records:
            if record.status not in PUBLISHED:
                continue
            key = RSAKey.import_key(store.open_signing_key(record), {"kid": record.kid})
            by_kid[record.kid] = key
            published.append(record.public_jwk)
            if record.status == "current":
                current = key
        self.by_kid, self.current, self.jwks = by_kid, current, {"keys": published}

    async def ensure(self, store: Store) -> bool:
        """Create the first key when there is none; return True when one was created."""
        await self.load(store)
        if self.current is not None:
            return False
        await add_key(store, "current")
        await self.load(store)
        return True


async def add_key(store: Store, status: str) -> str:
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": "RS256"}
    await store.add_signing_key(kid, key.as_pem(private=True), public, status)
    return kid
