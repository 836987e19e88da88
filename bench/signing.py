"""The raw RS256 signing rate of this machine on one core (joserfc, key loaded once)."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.jwk import RSAKey


def rs256_per_second(seconds: float = 2.0) -> float:
    key = RSAKey.generate_key(2048)
    claims = {"iss": "http://127.0.0.1/", "sub": "bench@clients", "aud": "api",
              "iat": 1, "exp": 2, "scope": "read:users", "gty": "client-credentials"}
    header = {"alg": "RS256", "kid": "k1"}
    jwt.encode(header, claims, key)
    best = 0.0
    for _ in range(3):  # best of three: the machine is shared and noisy
        count, began = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - began) < seconds / 3:
            jwt.encode(header, claims, key)
            count += 1
        best = max(best, count / elapsed)
    return best
