"""Encodings shared by every layer (base64url without padding, the PKCE S256 transform)."""

from __future__ import annotations

import base64
import hashlib


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())
