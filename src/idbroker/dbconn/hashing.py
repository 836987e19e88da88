"""Password hashing: argon2id (RFC 9106) through argon2-cffi.

Default cost: OWASP's first recommended argon2id configuration, m = 19 MiB, t = 2, p = 1
(docs/database-connections.md#password-hashing). It costs on the order of 100 ms of one core
here, which a login can afford and an offline guesser cannot. Hashes carry their own
parameters (PHC string), so changing the settings never breaks old hashes: a login that
verifies a hash made with other parameters rehashes the password with the current ones.

Hashing runs in a small dedicated thread pool: off the event loop, and bounded, so a burst of
logins costs at most ``_WORKERS`` × m of memory instead of one allocation per request.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idbroker.settings import Settings

_WORKERS = 2
_POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="idbroker-argon2")


@dataclass(frozen=True, slots=True)
class Verified:
    ok: bool
    # The hash was made with other parameters: store a new one now that we hold the password.
    needs_rehash: bool = False


class PasswordHashing:
    def __init__(self, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                     parallelism=parallelism, hash_len=32, salt_len=16,
                                     type=Type.ID)
        # Verified against when the account does not exist, so that an unknown identifier
        # costs the same time as a wrong password and timing does not tell them apart.
        self._dummy = self.hasher.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(_POOL, self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> Verified:
        return await asyncio.get_running_loop().run_in_executor(
            _POOL, self._verify, stored, password)

    def _verify(self, stored: str | None, password: str) -> Verified:
        if stored is not None and stored.startswith(_BCRYPT_PREFIXES):
            return _verify_bcrypt(stored, password)
        try:
            self.hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verified(False)
        if stored is None:
            return Verified(False)
        return Verified(True, self.hasher.check_needs_rehash(stored))


# Imported accounts (`idbroker users import`, Auth0's bulk format) may carry bcrypt hashes:
# verified as they are, then replaced by an argon2id hash at the first successful login.
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def _verify_bcrypt(stored: str, password: str) -> Verified:
    # bcrypt only ever hashed the first 72 bytes; newer bcrypt releases refuse longer input
    # instead of truncating, so truncate as the system that made the hash did.
    try:
        ok = bcrypt.checkpw(password.encode()[:72], stored.encode())
    except ValueError:  # a malformed stored hash
        return Verified(False)
    return Verified(ok, needs_rehash=ok)


@lru_cache(maxsize=4)
def _hashing(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHashing:
    return PasswordHashing(memory_kib, time_cost, parallelism)


def hashing_for(settings: Settings) -> PasswordHashing:
    return _hashing(settings.password_hash_memory_kib, settings.password_hash_time_cost,
                    settings.password_hash_parallelism)
