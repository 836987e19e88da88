"""Vault key rotation (attack E3): killed at any point and run again, it loses nothing and
finishes; running processes keep reading; retire-key refuses a key still in use."""

from __future__ import annotations

import json

import sqlalchemy as sa

from idbroker.bootstrap import BOOTSTRAP_CLIENT_NAME
from idbroker.vault import keyring_file, rotation
from idbroker.vault import schema as t
from idbroker.vault.crypto import Vault, key_id_for
from idbroker.vault.records import Identity, TokenSet, UpstreamProfile
from idbroker.vault.store import Store
from tests.functional.vault.support import (
    fresh_store, identity_key_id, key_ids, seed, snapshot, vault_cli, vault_cmd,
)
from tests.support import Broker


def test_every_sealed_and_digest_column_of_the_schema_is_rotated_or_accounted_for() -> None:
    sealed = {f"{table.name}.{c.name}" for table in t.metadata.sorted_tables
              for c in table.columns if isinstance(c.type, sa.LargeBinary)}
    assert sealed == {c.label for c in rotation.SEALED_COLUMNS}
    digests = {f"{table.name}.{c.name}" for table in t.metadata.sorted_tables
               for c in table.columns if c.name == "digest" or c.name.endswith("_digest")}
    assert digests == {c.label for c in rotation.DIGEST_COLUMNS}


async def test_rotation_killed_repeatedly_resumes_loses_nothing_and_old_key_retires(
        broker: Broker) -> None:
    settings, store = broker.runtime.settings, broker.runtime.store
    key_file = settings.resolved_vault_key_file
    old_kid = store.vault.current_key_id
    canaries = await seed(broker, identities=24)
    before = await snapshot(store)
    total = sum(len(rows) for rows in before.values())
    reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])

    # Killed right after the new key is written, then mid-batch, then on a batch boundary:
    # each later run resumes (it adds no further key) and is killed again.
    for kill_after in (0, 5, 12):
        run = vault_cli(settings, "rotate-key", "--batch-size", "4",
                        "--fault-kill-after", str(kill_after))
        assert run.returncode == -9, run.stdout + run.stderr
        assert len(keyring_file.read_key_file(key_file)) == 2
        restarted = fresh_store(store, settings)
        assert await snapshot(restarted) == before
        counts = await key_ids(restarted)
        assert set(counts) <= {old_kid, restarted.vault.current_key_id}
        assert sum(counts.values()) == total
    new_kid = restarted.vault.current_key_id
    assert new_kid != old_kid and 0 < counts.get(new_kid, 0) < total

    # A process started before the rotation (holding only the old key) still reads a row
    # already re-sealed under the new key: it picks the new key up from the key file.
    users = {u: await restarted.get_user(u) for u in canaries}
    converted = next(u for u, user in users.items()
                     if identity_key_id(user.identities[0]) == new_kid)
    response = await broker.user(converted, reader)
    assert response.status_code == 200
    assert response.json()["identities"][0]["access_token"] == canaries[converted]

    finish = await vault_cmd(settings, "rotate-key", "--batch-size", "4")
    assert finish.exit_code == 0, finish.output
    assert "Resuming" in finish.output
    assert len(keyring_file.read_key_file(key_file)) == 2
    restarted = fresh_store(store, settings)
    assert await key_ids(restarted) == {new_kid: total}
    assert await snapshot(restarted) == before

    # The old key still verifies the bootstrap client's secret and a pending login's state:
    # retire-key refuses, says how many and which client, and changes nothing.
    refused = await vault_cmd(settings, "retire-key", old_kid)
    assert refused.exit_code != 0
    assert "refusing to retire" in refused.output
    holders = await rotation.clients_on_key(store, old_kid)
    bootstrap = next(c for c in await store.list_clients() if c.name == BOOTSTRAP_CLIENT_NAME)
    assert bootstrap.client_id in holders and len(holders) == 2  # and the reader's client
    assert f"{len(holders)} in clients.secret_digest" in refused.output
    assert "1 in login_transactions.state_digest" in refused.output
    assert all(client_id in refused.output for client_id in holders)
    assert len(keyring_file.read_key_file(key_file)) == 2
    refused_sealing = await vault_cmd(settings, "retire-key", new_kid)
    assert refused_sealing.exit_code != 0 and "sealing key" in refused_sealing.output

    for client_id in holders:
        rotated = await broker.mgmt("POST", f"clients/{client_id}/rotate-secret")
        assert rotated.status_code == 200
        if client_id == bootstrap.client_id:
            secret = rotated.json()["client_secret"]
    assert (await store.take_transaction("pending-login-state", "b"))[0] is not None
    retired = await vault_cmd(settings, "retire-key", old_kid)
    assert retired.exit_code == 0, retired.output
    ring = keyring_file.read_key_file(key_file)
    assert [key_id_for(k) for k in ring] == [new_kid]
    after = await snapshot(fresh_store(store, settings))
    before.pop("login_transactions.sealed")
    after.pop("login_transactions.sealed")
    assert after == before
    # The rotated client secret works with the new ring alone.
    assert fresh_store(store, settings).client_secret_matches(
        (await store.get_client(bootstrap.client_id)), secret)


async def test_a_concurrent_write_is_never_overwritten_by_the_rotation(broker: Broker) -> None:
    store = broker.runtime.store
    canaries = await seed(broker, identities=3)
    keyring_file.prepend_key(broker.runtime.settings.resolved_vault_key_file, b"k" * 32)
    assert store.vault.reload(force=True)
    col = next(c for c in rotation.SEALED_COLUMNS if c.label == "identities.tokens_sealed")
    batch = await rotation.read_batch(store, col, None, 100)
    assert len(batch) == 3

    # Between the rotation's read and its write, a login stores new tokens for one identity.
    user_id = next(iter(canaries))
    user = await store.get_user(user_id)
    identity: Identity = user.identities[0]
    connection = await store.get_connection(identity.connection_id)
    await store.record_login(
        connection=connection, provider="oidc", issuer=identity.issuer,
        subject=identity.subject, idp_user_id=identity.idp_user_id, is_social=False,
        profile=UpstreamProfile(), tokens=TokenSet(access_token="written-meanwhile"), ip=None)

    report = rotation.RotationReport(target_key_id=store.vault.current_key_id)
    await rotation.reseal_batch(store, col, batch, report)
    assert (report.resealed, report.conflicts) == (2, 1)
    tokens = store.open_tokens((await store.get_user(user_id)).identities[0])
    assert tokens is not None and tokens.access_token == "written-meanwhile"
    assert await rotation.pending(store) > 0  # the other tables are still to do
    await rotation.rotate(store)
    assert await rotation.pending(store) == 0
    for other, token in canaries.items():
        if other != user_id:
            opened = store.open_tokens((await store.get_user(other)).identities[0])
            assert opened is not None and opened.access_token == token


async def test_with_the_ring_in_the_environment_nothing_is_resealed_before_it_is_deployed(
        broker: Broker) -> None:
    settings, store = broker.runtime.settings, broker.runtime.store
    canaries = await seed(broker, identities=2)
    old = keyring_file.read_key_file(settings.resolved_vault_key_file)
    env = {"IDBROKER_VAULT_KEY": keyring_file.encode_key(old[0])}

    first = await vault_cmd(settings, "rotate-key", env=env)
    assert first.exit_code == 0, first.output
    ring_value = next(line for line in first.output.splitlines()
                      if line.startswith("IDBROKER_VAULT_KEY="))
    ring = ring_value.split("=", 1)[1].split(",")
    assert len(ring) == 2 and ring[1] == env["IDBROKER_VAULT_KEY"]
    assert set(await key_ids(store)) == {key_id_for(old[0])}  # nothing re-sealed yet

    deployed = {"IDBROKER_VAULT_KEY": ",".join(ring)}
    second = await vault_cmd(settings, "rotate-key", env=deployed)
    assert second.exit_code == 0, second.output
    new_kid = key_id_for(keyring_file.decode_key(ring[0], "test"))
    assert set(await key_ids(store)) == {new_kid}
    # A process given the deployed ring reads every token.
    deployed_store = Store(store.engine, Vault([keyring_file.decode_key(k, "t") for k in ring]))
    for user_id, token in canaries.items():
        opened = deployed_store.open_tokens((await store.get_user(user_id)).identities[0])
        assert opened is not None and opened.access_token == token

    # An operator-supplied key (read from stdin, so it is not in the process list).
    supplied = keyring_file.encode_key(b"s" * 32)
    third = await vault_cmd(settings, "rotate-key", "--new-key", "-", env=deployed,
                            stdin=supplied + "\n")
    assert third.exit_code == 0, third.output
    assert f"IDBROKER_VAULT_KEY={supplied},{ring[0]},{ring[1]}" in third.output
    status = await vault_cmd(settings, "status", "--json", env=deployed)
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["keys"][0]["key_id"] == new_kid
