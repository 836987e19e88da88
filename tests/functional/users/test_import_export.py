"""`idbroker users import` / `export`: Auth0's bulk formats in, the same out, IdP tokens sealed
on the way in and never out."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from idbroker import json_stream
from idbroker.cli.main import main
from idbroker.management.user_import import import_users
from idbroker.vault import schema as t
from tests.functional.users.conftest import all_stored_text, secret_forms, uid_path
from tests.support import ISSUER, Broker

CONN = "acme-oidc"


def _user(n: int, **extra: Any) -> dict[str, Any]:
    return {"user_id": f"sub-{n}", "email": f"User{n}@Example.com", "email_verified": True,
            "given_name": "User", "family_name": str(n),
            "app_metadata": {"plan": "gold"}, "user_metadata": {"lang": "fr"}, **extra}


def _with_tokens(n: int, access: str, refresh: str, **extra: Any) -> dict[str, Any]:
    return _user(n, identities=[{"connection": CONN, "access_token": access,
                                 "refresh_token": refresh, "expires_in": 3600,
                                 "scope": "openid email", **extra}])


def _cli_env(broker: Broker) -> dict[str, str]:
    settings = broker.runtime.settings
    env = {"IDBROKER_DATA_DIR": str(settings.data_dir), "IDBROKER_ISSUER": ISSUER,
           "IDBROKER_VAULT_KEY": settings.vault_key.get_secret_value()}  # type: ignore[union-attr]
    if settings.database_url:
        env["IDBROKER_DATABASE_URL"] = settings.database_url
    return env


async def _cli(broker: Broker, *args: str) -> Any:
    # The command runs its own event loop: off this test's loop, in a thread.
    return await asyncio.to_thread(CliRunner().invoke, main, ["users", *args],
                                   env=_cli_env(broker))


async def _import(broker: Broker, records: Any, **options: Any) -> Any:
    text = records if isinstance(records, str) else json.dumps(records, indent=1)
    return await import_users(broker.runtime, io.StringIO(text), connection=CONN, **options)


async def _connection(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])


async def test_imported_tokens_are_sealed_and_readable_through_the_management_api(
        broker: Broker) -> None:
    await _connection(broker)
    access, refresh = "ya29.imported-access-7f3k", "1//imported-refresh-9q2z"
    report = await _import(broker, [_with_tokens(1, access, refresh), _user(2)])
    assert report.as_dict() == {"read": 2, "inserted": 2, "updated": 0, "skipped": 0,
                                "failed": 0, "aborted": False, "other_identities_ignored": 0}

    token = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    body = (await broker.user(f"oidc|{CONN}|sub-1", token)).json()
    assert body["email"] == "user1@example.com" and body["name"] == "user1@example.com"
    assert body["app_metadata"] == {"plan": "gold"} and body["logins_count"] == 0
    identity = body["identities"][0]
    assert identity["user_id"] == f"{CONN}|sub-1" and identity["connection"] == CONN
    assert identity["access_token"] == access and identity["refresh_token"] == refresh
    assert 3500 < identity["expires_in"] <= 3600
    plain = (await broker.user(f"oidc|{CONN}|sub-2", token)).json()["identities"][0]
    assert "access_token" not in plain

    stored = await all_stored_text(broker)
    for secret in (access, refresh):
        assert not any(form in stored for form in secret_forms(secret))
    # Bound to its row, as a login's tokens are: moved to another identity, it does not open.
    async with broker.runtime.store.engine.begin() as conn:
        rows = {r.user_id: r for r in await conn.execute(sa.select(t.identities))}
        await conn.execute(t.identities.update().where(
            t.identities.c.id == rows[f"oidc|{CONN}|sub-2"].id).values(
            tokens_sealed=rows[f"oidc|{CONN}|sub-1"].tokens_sealed, token_status="active"))
    moved = (await broker.user(f"oidc|{CONN}|sub-2", token)).json()["identities"][0]
    assert "access_token" not in moved and moved["token_status"] == "unreadable"


async def test_re_import_skips_existing_users_and_upsert_updates_them(broker: Broker) -> None:
    await _connection(broker)
    records = [_with_tokens(1, "at-first", "rt-first"), _user(2), _user(3)]
    first = await _import(broker, records, batch_size=2)
    assert (first.inserted, first.skipped) == (3, 0)
    again = await _import(broker, records, batch_size=2)
    assert (again.inserted, again.skipped, again.updated, again.failed) == (0, 3, 0, 0)
    async with broker.runtime.store.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(t.users))).scalar() == 3
        assert (await conn.execute(sa.select(sa.func.count()).select_from(
            t.identities))).scalar() == 3

    changed = [_with_tokens(1, "at-second", "rt-second", expires_at=int(time.time()) + 7200,
                            scope=["openid"]) | {"name": "Renamed"}, _user(2, blocked=True)]
    upserted = await _import(broker, changed, upsert=True)
    assert (upserted.inserted, upserted.updated) == (0, 2)
    token = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    one = (await broker.user(f"oidc|{CONN}|sub-1", token)).json()
    assert one["name"] == "Renamed"
    assert one["identities"][0]["access_token"] == "at-second"
    assert one["identities"][0]["scopes"] == ["openid"]
    two = (await broker.user(f"oidc|{CONN}|sub-2", token)).json()
    assert two["blocked"] is True and "access_token" not in two["identities"][0]


async def test_invalid_records_are_reported_by_index_and_line(broker: Broker) -> None:
    await _connection(broker)
    records: list[Any] = [
        _user(0),
        _user(1, email="not-an-email"),
        _user(2, password_hash="$2b$10$abcdefghijklmnopqrstuv"),
        "a string, not a user",
        _user(4, phone_number="+15550000"),
        _user(0),  # the same user again
        _user(6),
    ]
    text = json.dumps(records, indent=1)
    lines = {n: text.count("\n", 0, text.index(f'"sub-{n}"')) for n in (1, 2, 4)}

    seen: list[str] = []
    report = await _import(broker, text, on_error="continue",
                           on_record_error=lambda e: seen.append(str(e)))
    assert (report.read, report.inserted, report.failed) == (7, 2, 5)
    by_index = {e.index: e for e in report.errors}
    assert sorted(by_index) == [1, 2, 3, 4, 5]
    assert "email" in by_index[1].message and "must be an email address" in by_index[1].message
    assert "can only be imported into a database connection" in by_index[2].message
    assert by_index[3].message == "a user must be a JSON object"
    assert "phone_number" in by_index[4].message
    assert "record 0" in by_index[5].message
    # Lines point into the record (the user_id line sits a few lines below the '{').
    for n in (1, 2, 4):
        assert 0 <= lines[n] + 1 - by_index[n].line < 12
    assert len(seen) == 5 and seen[0].startswith("record 1 (line ")

    # Abort: stop at the first bad record; nothing of its batch is written.
    await _reset_users(broker)
    aborted = await _import(broker, text)
    assert aborted.aborted and aborted.failed == 1 and aborted.inserted == 0
    assert await _user_count(broker) == 0

    # Password hashes can be dropped knowingly.
    dropped = await _import(broker, [_user(2, password_hash="$2b$10$x")],
                            drop_password_hashes=True)
    assert dropped.inserted == 1
    nul = await _import(broker, [_user(8, user_metadata={"k": ["x\x00y"]}),
                                 _user(9, name="a back\\u0000slash is text")])
    assert nul.failed == 1 and "NUL" in nul.errors[0].message and nul.errors[0].index == 0


@pytest.mark.parametrize("text, line", [
    ('[{"user_id": "a"},\n{"user_id": "b"\n', 2),
    ('[{"user_id": "a"}\n{"user_id": "b"}]', 2),
    ('[{"user_id": "a"},]', 1),
    ('{"user_id": "a"}\n{"user_id": \n', 2),
])
async def test_malformed_json_stops_with_its_position(broker: Broker, text: str,
                                                      line: int) -> None:
    await _connection(broker)
    report = await _import(broker, text, on_error="continue")
    assert report.aborted and report.failed == 1
    assert report.errors[0].line == line and report.errors[0].index == 1
    assert report.inserted == 1  # the record before the damage is kept


def test_the_stream_reader_handles_records_cut_by_chunk_boundaries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_stream, "CHUNK", 7)
    values = [{"n": n, "s": "é" * n, "nested": {"list": [n, n + 1]}} for n in range(20)] + [12345]
    array = json.dumps(values, indent=2, ensure_ascii=False)
    got = list(json_stream.read_records(io.StringIO(array)))
    assert [i.value for i in got] == values
    assert got[1].line == array[:array.index('"n": 1,')].count("\n")
    ndjson = "\n".join(json.dumps(v) for v in values) + "\n"
    got = list(json_stream.read_records(io.StringIO(ndjson)))
    assert [i.value for i in got] == values and got[3].line == 4
    assert list(json_stream.read_records(io.StringIO(" [ ] \n"))) == []


async def test_export_then_import_round_trip_through_the_cli(broker: Broker,
                                                             tmp_path: Path) -> None:
    await _connection(broker)
    source = tmp_path / "in.json"
    source.write_text(json.dumps([
        _with_tokens(1, "at-never-exported", "rt-never-exported"),
        _user(2, created_at="2020-05-01T10:00:00.000Z", last_login="2021-01-02T03:04:05.678Z",
              logins_count=7, picture="https://example.com/p.png", nickname="two"),
        _user(3, blocked=True, user_metadata={"a": {"b": [1, 2]}})]))
    imported = await _cli(broker, "import", str(source), "--connection", CONN, "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output.strip().splitlines()[-1])["inserted"] == 3

    out_json, out_nd = tmp_path / "out.json", tmp_path / "out.ndjson"
    for path, fmt in ((out_json, "json"), (out_nd, "ndjson")):
        result = await _cli(broker, "export", str(path), "--format", fmt)
        assert result.exit_code == 0, result.output
    exported = json.loads(out_json.read_text())
    assert [json.loads(line) for line in out_nd.read_text().splitlines()] == exported
    assert "never-exported" not in out_json.read_text() + out_nd.read_text()
    by_id = {u["user_id"]: u for u in exported}
    two = by_id[f"oidc|{CONN}|sub-2"]
    assert two["created_at"] == "2020-05-01T10:00:00.000Z" and two["logins_count"] == 7
    assert two["last_login"] == "2021-01-02T03:04:05.678Z" and two["nickname"] == "two"
    assert two["identities"] == [{"connection": CONN, "provider": "oidc",
                                  "user_id": f"{CONN}|sub-2", "isSocial": False}]

    # Into an empty store, from the export: the same users come back.
    await _reset_users(broker)
    again = await _cli(broker, "import", str(out_nd), "--connection", CONN)
    assert again.exit_code == 0, again.output
    second = tmp_path / "second.json"
    assert (await _cli(broker, "export", str(second))).exit_code == 0
    strip = lambda users: [{k: v for k, v in u.items() if k != "updated_at"} for u in users]  # noqa: E731
    assert strip(json.loads(second.read_text())) == strip(exported)

    # A bad record makes the command fail, naming the record, after importing the rest.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([_user(9), {"user_id": ""}]))
    failed = await _cli(broker, "import", str(bad), "--connection", CONN,
                        "--on-error", "continue")
    assert failed.exit_code == 1 and "record 1 (line 1)" in failed.output
    token = await broker.mgmt_token(["read:users"])
    assert (await broker.mgmt("GET", f"users/{uid_path(f'oidc|{CONN}|sub-9')}",
                              token=token)).status_code == 200
    missing = await _cli(broker, "import", str(bad), "--connection", "nope")
    assert missing.exit_code != 0 and "does not exist" in missing.output


async def _reset_users(broker: Broker) -> None:
    async with broker.runtime.store.engine.begin() as conn:
        await conn.execute(t.identities.delete())
        await conn.execute(t.users.delete())


async def _user_count(broker: Broker) -> int:
    async with broker.runtime.store.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(t.users))).scalar())



async def test_an_import_keeps_the_planners_statistics_on_postgresql(broker: Broker) -> None:
    """Without statistics the planner reads every imported row for each batch's existence
    checks (quadratic: a 1,000,000-user import stalled). An import ANALYZEs the tables it looks
    rows up in as it grows, whether or not autovacuum runs."""
    from tests.conftest import PG_URL
    if not PG_URL:
        pytest.skip("PostgreSQL only")
    await _connection(broker)

    async def analyzed() -> dict[str, Any]:
        async with broker.runtime.store.engine.connect() as conn:
            rows = await conn.execute(sa.text(
                "SELECT relname, analyze_count + autoanalyze_count AS n FROM pg_stat_user_tables"
                " WHERE relname IN ('users', 'identities')"))
            return {r.relname: r.n for r in rows}

    before = await analyzed()
    result = await _import(broker, [_user(n) for n in range(1, 6)], batch_size=2)
    assert result.inserted == 5
    for _ in range(50):  # the statistics collector reports asynchronously
        after = await analyzed()
        if all(after[name] > before.get(name, 0) for name in ("users", "identities")):
            break
        await asyncio.sleep(0.1)
    assert all(after[name] > before.get(name, 0) for name in ("users", "identities")), after
