"""Minting our ID tokens and access tokens, and verifying our access tokens.

Verification is deliberately narrow: one algorithm (RS256), header parameters we know
(``alg``, ``typ``, ``kid``) and nothing else, a ``kid`` that names one of our own keys, exact
issuer and audience, required ``exp``/``iat``. It never fetches a key from a URL in the token,
never falls back to "the first key", never accepts a token typed as anything but ``at+jwt``.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc import jwt
from joserfc.errors import JoseError

from idbroker import json_codec
from idbroker.clock import now_s
from idbroker.errors import InvalidToken
from idbroker.oauth.scopes import parse_claim
from idbroker.encoding import b64url_decode, b64url_encode
from idbroker.vault.signing import SigningKeys

MAX_TOKEN_BYTES = 8192
ACCESS_TOKEN_TYPE = "at+jwt"
_ALLOWED_HEADER = frozenset({"alg", "typ", "kid"})
_LEEWAY_S = 5


@dataclass(frozen=True, slots=True)
class VerifiedAccessToken:
    claims: dict[str, Any]
    scopes: frozenset[str]

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])


class TokenIssuer:
    def __init__(self, issuer: str, keys: SigningKeys, cache_size: int = 10_000) -> None:
        self.issuer = issuer
        self.keys = keys
        self._cache: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._key_generation = keys.generation
        self._headers: dict[tuple[str, str], tuple[Any, str, Any]] = {}

    def _sign(self, claims: dict[str, Any], typ: str) -> str:
        key = self.keys.current
        if key is None:
            raise RuntimeError("no current signing key")
        # A compact JWS (RFC 7515 §7.1) built by hand: the RSA signature is the only real
        # work, and joserfc's generic encode path cost half as much again on top of it
        # (docs/performance.md). The header of each (key, typ) is serialised once.
        cached = self._headers.get((key.kid, typ))
        if cached is None or cached[0] is not key:
            header = {"alg": "RS256", "typ": typ, "kid": key.kid}
            cached = (key, b64url_encode(json.dumps(header, separators=(",", ":")).encode()),
                      key.private_key)
            self._headers[(key.kid, typ)] = cached
        _, header_b64, private = cached
        signing_input = f"{header_b64}.{b64url_encode(_compact_json(claims))}"
        signature = private.sign(signing_input.encode("ascii"), PKCS1v15(), SHA256())
        return f"{signing_input}.{b64url_encode(signature)}"

    def id_token(self, *, sub: str, client_id: str, nonce: str | None, auth_time: int,
                 profile_claims: dict[str, Any], ttl_s: int,
                 extra: dict[str, Any] | None = None) -> str:
        """``extra``: protocol claims such as ``sid`` (the login session) and ``at_hash``."""
        issued = now_s()
        claims: dict[str, Any] = {
            **profile_claims, "iss": self.issuer, "sub": sub, "aud": client_id,
            "iat": issued, "exp": issued + ttl_s, "auth_time": auth_time, "azp": client_id,
            **(extra or {}),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return self._sign(claims, "JWT")

    def access_token(self, *, sub: str, audience: list[str], scope: str, client_id: str,
                     ttl_s: int, extra: dict[str, Any] | None = None) -> str:
        issued = now_s()
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": sub,
            "aud": audience[0] if len(audience) == 1 else audience,
            "iat": issued, "exp": issued + ttl_s, "scope": scope, "azp": client_id,
            "jti": secrets.token_urlsafe(16), **(extra or {}),
        }
        return self._sign(claims, ACCESS_TOKEN_TYPE)

    def verify_access_token(self, token: str, audiences: frozenset[str]) -> VerifiedAccessToken:
        if self._key_generation != self.keys.generation:
            # The key set changed (rotation, revocation): a token verified under a key that is
            # now revoked must not keep passing from the cache.
            self._cache.clear()
            self._key_generation = self.keys.generation
        cached = self._cache.get(token)
        now = now_s()
        if cached is not None and cached[0] > now:
            claims = cached[1]
        else:
            claims = self._verify_uncached(token, now)
            self._remember(token, claims)
        aud = claims.get("aud")
        aud_list = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in audiences for a in aud_list):
            raise InvalidToken(detail="audience mismatch")
        return VerifiedAccessToken(claims=claims, scopes=parse_claim(claims.get("scope")))

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        self._cache[token] = (int(claims["exp"]), claims)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _verify_uncached(self, token: str, now: int) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
            raise InvalidToken(detail="not a compact JWS of acceptable size")
        header = _header(token)
        if set(header) - _ALLOWED_HEADER or header.get("alg") != "RS256":
            raise InvalidToken(detail="unexpected JOSE header")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken(detail="not an access token")
        key = self.keys.by_kid.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if key is None:
            raise InvalidToken(detail="unknown key id")
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"]).claims
        except (JoseError, ValueError, RecursionError) as exc:
            # RecursionError: a validly signed but deeply nested JSON payload makes json.loads
            # raise it (it is not a ValueError); unhandled, it became a 500 instead of a 401.
            raise InvalidToken(detail=f"signature: {type(exc).__name__}") from exc
        if claims.get("iss") != self.issuer:
            raise InvalidToken(detail="issuer mismatch")
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not _is_int(exp) or not _is_int(iat) or not isinstance(claims.get("sub"), str):
            raise InvalidToken(detail="missing or malformed exp/iat/sub")
        if exp + _LEEWAY_S < now or iat - _LEEWAY_S > now:
            raise InvalidToken(detail="expired or issued in the future")
        if nbf is not None and (not _is_int(nbf) or nbf - _LEEWAY_S > now):
            raise InvalidToken(detail="not yet valid")
        return claims


def _compact_json(claims: dict[str, Any]) -> bytes:
    # Compact UTF-8, keys in insertion order, as the standard library's compact form gives.
    return json_codec.dumps(claims)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _header(token: str) -> dict[str, Any]:
    try:
        header = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: an unsigned header such as {"alg":[[[[…]]]]} (~1000 levels fit well
        # under MAX_TOKEN_BYTES) makes json.loads raise it, and it is not a ValueError. Before
        # this was caught, anyone could turn any Management API call into a 500.
        raise InvalidToken(detail="undecodable header") from exc
    if not isinstance(header, dict):
        raise InvalidToken(detail="header is not an object")
    return header
