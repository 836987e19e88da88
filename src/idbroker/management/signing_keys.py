"""/api/v2/keys/signing: the broker's token signing keys in Auth0's shape, public parts only.

Nothing here ever reads the sealed private key: the list comes from ``vault.signing.list_public``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from idbroker.clock import iso_ms
from idbroker.errors import NotFound
from idbroker.runtime import Runtime
from idbroker.vault import signing


def render(row: dict[str, Any]) -> dict[str, Any]:
    cert = row["cert_pem"] or ""
    body: dict[str, Any] = {"kid": row["kid"], "cert": cert}
    if cert:
        parsed = x509.load_pem_x509_certificate(cert.encode())
        digest = parsed.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S324 — Auth0's format
        body["pem"] = parsed.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        body["fingerprint"] = ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
        body["thumbprint"] = digest
    status = row["status"]
    body.update({"current": status == "current", "next": status == "next",
                 "previous": status in ("previous", "revoked"), "revoked": status == "revoked"})
    for name in ("current_since", "current_until", "revoked_at"):
        if row[name] is not None:
            body[name] = iso_ms(row[name])
    return body


async def list_all(rt: Runtime) -> list[dict[str, Any]]:
    return [render(row) for row in await signing.list_public(rt.store)]


async def get(rt: Runtime, kid: str) -> dict[str, Any]:
    for row in await signing.list_public(rt.store):
        if row["kid"] == kid:
            return render(row)
    raise NotFound("The signing key does not exist", error_code="inexistent_signing_key")


async def rotate(rt: Runtime) -> dict[str, Any]:
    kid = await signing.rotate(rt.store, subject=_subject(rt))
    await rt.keys.load(rt.store)
    key = await get(rt, kid)
    return {"cert": key["cert"], "kid": kid}


async def revoke(rt: Runtime, kid: str) -> dict[str, Any]:
    await signing.revoke(rt.store, kid)
    # Tokens it signed stop verifying here at once, elsewhere at the next key-set check.
    await rt.keys.load(rt.store)
    key = await get(rt, kid)
    return {"cert": key["cert"], "kid": kid}


def _subject(rt: Runtime) -> str:
    return urlsplit(rt.settings.issuer).hostname or "idbroker"
