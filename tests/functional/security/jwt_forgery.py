"""Hand-built JWTs for attack tests.

Everything here is plain base64url + JSON + ``cryptography``/``hmac``: the tests must not
trust the JOSE library the broker itself uses, or a bug shared by both would hide itself.
Nothing is validated: these helpers build exactly the bytes they are told to, including
headers and payloads no well-behaved library would emit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# --- encodings ----------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    """Compact JSON, base64url. ``bytes`` are taken as already-serialised JSON (or not-JSON)."""
    if isinstance(value, bytes):
        return b64url(value)
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def unb64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def secret_forms(secret: str) -> list[str]:
    """A secret and the encodings it might leak in (conventions of security_tests.md §3)."""
    raw = secret.encode("utf-8")
    return [secret, base64.b64encode(raw).decode().rstrip("="), b64url(raw), raw.hex()]


# --- signing ------------------------------------------------------------------------------


def signing_input(header: Any, claims: Any) -> str:
    return f"{b64url_json(header)}.{b64url_json(claims)}"


def load_private_key(pem: bytes | str) -> rsa.RSAPrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_private_key(data, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def rsa_sign(private_key: rsa.RSAPrivateKey, header: Any, claims: Any,
             hash_alg: hashes.HashAlgorithm | None = None, pss: bool = False) -> str:
    """RSASSA-PKCS1-v1_5 (RS*) or RSASSA-PSS (PS*) over the compact signing input."""
    message = signing_input(header, claims)
    digest = hash_alg or hashes.SHA256()
    pad: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size) if pss
        else padding.PKCS1v15())
    signature = private_key.sign(message.encode("ascii"), pad, digest)
    return f"{message}.{b64url(signature)}"


def hmac_sign(secret: bytes, header: Any, claims: Any, digest: str = "sha256") -> str:
    message = signing_input(header, claims)
    mac = hmac.new(secret, message.encode("ascii"), getattr(hashlib, digest)).digest()
    return f"{message}.{b64url(mac)}"


def unsigned(header: Any, claims: Any, signature: str = "") -> str:
    return f"{signing_input(header, claims)}.{signature}"


# --- the server's public key in every form an HMAC-confusion attacker might try -----------


def public_key_forms(private_key: rsa.RSAPrivateKey, jwk: dict[str, Any]) -> dict[str, bytes]:
    """Byte strings a vulnerable verifier could end up using as an HS256 secret."""
    public = private_key.public_key()
    spki_pem = public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "spki-pem": spki_pem,
        "spki-pem-no-newline": spki_pem.rstrip(b"\n"),
        "pkcs1-pem": public.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.PKCS1),
        "spki-der": public.public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo),
        "pkcs1-der": public.public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.PKCS1),
        "openssh": public.public_bytes(serialization.Encoding.OpenSSH,
                                       serialization.PublicFormat.OpenSSH),
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-compact": json.dumps(jwk, separators=(",", ":")).encode(),
        "jwk-n": base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)),
        "empty": b"",
    }


def public_jwk(public_key: rsa.RSAPublicKey, kid: str | None = None) -> dict[str, Any]:
    numbers = public_key.public_numbers()

    def uint(value: int) -> str:
        return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    jwk: dict[str, Any] = {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def generate_attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_cert_der(private_key: rsa.RSAPrivateKey, common_name: str) -> bytes:
    """A throw-away X.509 certificate for ``x5c`` header attacks."""
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private_key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=36500))
            .sign(private_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)
