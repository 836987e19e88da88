"""argon2id at the documented cost; unknown users cost a verification too; rehash signal."""

from __future__ import annotations

from idbroker.dbconn.hashing import PasswordHashing, hashing_for
from idbroker.settings import Settings


async def test_default_parameters_are_owasps_argon2id_recommendation() -> None:
    hashing = hashing_for(Settings())
    stored = await hashing.hash("Correct-Horse-9")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await hashing.verify(stored, "Correct-Horse-9")).ok
    assert not (await hashing.verify(stored, "correct-horse-9")).ok
    assert (await hashing.hash("Correct-Horse-9")) != stored  # salted


async def test_an_unknown_user_is_verified_against_a_dummy_and_fails() -> None:
    hashing = PasswordHashing(1024, 1, 1)
    assert not (await hashing.verify(None, "anything")).ok
    assert not (await hashing.verify("not-a-hash", "anything")).ok


async def test_a_hash_made_with_other_parameters_asks_for_a_rehash() -> None:
    old = await PasswordHashing(1024, 1, 1).hash("pw")
    current = PasswordHashing(2048, 1, 1)
    result = await current.verify(old, "pw")
    assert result.ok and result.needs_rehash
    assert not (await current.verify(await current.hash("pw"), "pw")).needs_rehash
