"""Client authentication at the token and revocation endpoints (RFC 6749 §2.3).

Unknown client and wrong secret produce the same error, and both pay for a digest, so the
answer does not tell an attacker which client ids exist.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote

from idbroker.errors import InvalidClient, InvalidRequest
from idbroker.runtime import Runtime
from idbroker.vault.records import Client


class BasicAuthFailed(InvalidClient):
    """Carries the RFC 6749 §5.2 requirement to answer Basic failures with WWW-Authenticate."""


def _basic(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BasicAuthFailed(detail="undecodable Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise BasicAuthFailed(detail="Basic credentials without a colon")
    return unquote(client_id), unquote(secret)


async def authenticate(rt: Runtime, params: Mapping[str, str],
                       authorization: str | None) -> Client:
    basic = authorization is not None and authorization[:6].lower() == "basic "
    if basic:
        if params.get("client_secret") is not None:
            raise InvalidRequest("use one client authentication method, not two")
        client_id, secret = _basic(authorization or "")
        if params.get("client_id") not in (None, client_id):
            raise InvalidRequest("client_id differs from the authenticated client")
    else:
        client_id, secret = params.get("client_id") or "", params.get("client_secret")
    if not client_id or len(client_id) > 64:
        raise (BasicAuthFailed if basic else InvalidClient)(detail="missing client_id")
    client = await rt.store.get_client(client_id)
    failure = BasicAuthFailed if basic else InvalidClient
    if client is None:
        rt.store.vault.digest("client-secret", secret or "")
        raise failure(detail="unknown client")
    if client.is_public:
        if secret is not None:
            raise failure(detail="secret sent for a public client")
        return client
    if secret is None or not rt.store.client_secret_matches(client, secret):
        raise failure(detail="wrong or missing client secret")
    return client
