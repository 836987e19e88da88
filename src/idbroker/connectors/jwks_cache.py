"""An upstream's signing keys, fetched once and refetched only for an unknown ``kid``.

The refetch has a cooldown, so a flood of tokens with made-up key ids cannot turn into a
flood of requests to the upstream.
"""

from __future__ import annotations

import time

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from idbroker.connectors.upstream_http import request_json
from idbroker.errors import UpstreamProtocolError

REFETCH_COOLDOWN_S = 60.0


class JwksCache:
    def __init__(self, jwks_uri: str, timeout: float,
                 cooldown_s: float = REFETCH_COOLDOWN_S) -> None:
        self.jwks_uri = jwks_uri
        self.cooldown_s = cooldown_s
        self.timeout = timeout
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    async def _fetch(self, http: httpx.AsyncClient) -> KeySet:
        body = await request_json(http, "GET", self.jwks_uri, what="jwks", timeout=self.timeout)
        try:
            keys = KeySet.import_key_set({"keys": [
                k for k in body.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"
            ]})
        except (JoseError, ValueError, TypeError) as exc:
            raise UpstreamProtocolError(detail="jwks: unusable key set") from exc
        self._keys, self._fetched_at = keys, time.monotonic()
        return keys

    async def key_for(self, http: httpx.AsyncClient, kid: str | None) -> Key:
        keys = self._keys or await self._fetch(http)
        key = _select(keys, kid)
        if key is None and time.monotonic() - self._fetched_at > self.cooldown_s:
            key = _select(await self._fetch(http), kid)
        if key is None:
            raise UpstreamProtocolError(detail="id_token: no matching upstream key")
        return key


def _select(keys: KeySet, kid: str | None) -> Key | None:
    if kid is None:
        # Without a kid, only an unambiguous key set is acceptable (never "the first key").
        return keys.keys[0] if len(keys.keys) == 1 else None
    for key in keys.keys:
        if key.kid == kid:
            return key
    return None
