"""The `idbroker` command as a newcomer and an operator use it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from idbroker.cli.main import main


@pytest.fixture
def env(tmp_path: Path, settings: object) -> dict[str, str]:
    # Depending on `settings` empties the shared PostgreSQL first, as for every other test.
    values = {"IDBROKER_DATA_DIR": str(tmp_path / "data")}
    if os.environ.get("IDBROKER_TEST_DATABASE_URL"):
        values["IDBROKER_DATABASE_URL"] = os.environ["IDBROKER_TEST_DATABASE_URL"]
    return values


def test_init_creates_everything_once_and_then_changes_nothing(env: dict[str, str],
                                                               tmp_path: Path) -> None:
    if "IDBROKER_DATABASE_URL" in env:
        pytest.skip("a shared PostgreSQL already holds a schema; init is covered on SQLite")
    runner = CliRunner()
    first = runner.invoke(main, ["init", "--json"], env=env)
    assert first.exit_code == 0, first.output
    body = json.loads(first.output[first.output.index("{"):])
    assert body["status"] == "created"
    assert body["issuer"] == "http://127.0.0.1:8000/"
    assert body["audience"] == "http://127.0.0.1:8000/api/v2/"
    assert body["client_id"] and len(body["client_secret"]) >= 40
    key_file = tmp_path / "data" / "vault.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    db_bytes = (tmp_path / "data" / "idbroker.db").read_bytes()
    assert body["client_secret"].encode() not in db_bytes

    second = runner.invoke(main, ["init", "--json"], env=env)
    assert second.exit_code == 0, second.output
    again = json.loads(second.output[second.output.index("{"):])
    assert again["status"] == "unchanged" and again["created"] == []
    assert again["client_id"] == body["client_id"] and "client_secret" not in again
    human = runner.invoke(main, ["init"], env=env)
    assert "already initialised; nothing was changed" in human.output


@pytest.mark.parametrize("extra, reason", [
    ({"IDBROKER_ISSUER": "http://id.example.com/", "IDBROKER_VAULT_KEY": "A" * 43}, "https"),
    ({"IDBROKER_ISSUER": "https://id.example.com/"}, "vault key"),
    ({"IDBROKER_ISSUER": "https://id.example.com/", "IDBROKER_VAULT_KEY": "A" * 43,
      "IDBROKER_DEMO": "true"}, "demo"),
])
def test_production_mode_refuses_development_defaults(env: dict[str, str], extra: dict[str, str],
                                                      reason: str) -> None:
    result = CliRunner().invoke(main, ["serve"], env={**env, "IDBROKER_MODE": "production", **extra})
    assert result.exit_code != 0
    assert "refusing to start in production mode" in result.output and reason in result.output


def test_demo_refuses_production_mode(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["demo"], env={
        **env, "IDBROKER_MODE": "production", "IDBROKER_ISSUER": "https://id.example.com/",
        "IDBROKER_VAULT_KEY": "A" * 43})
    assert result.exit_code != 0 and "demo" in result.output


def test_clients_and_connections_commands_use_the_api_code(env: dict[str, str]) -> None:
    if "IDBROKER_DATABASE_URL" in env:
        pytest.skip("covered on SQLite; the API itself runs on both stores")
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    created = runner.invoke(main, ["clients", "create"], env=env, input=json.dumps({
        "name": "My app", "app_type": "spa", "callbacks": ["http://localhost:3000/cb"]}))
    assert created.exit_code == 0, created.output
    client = json.loads(created.output[created.output.index("{"):])
    assert client["token_endpoint_auth_method"] == "none" and "client_secret" not in client
    bad = runner.invoke(main, ["connections", "create"], env=env, input=json.dumps({
        "name": "up", "strategy": "oidc", "options": {"client_id": "x"}}))
    assert bad.exit_code != 0 and "discovery_url" in bad.output
    good = runner.invoke(main, ["connections", "create"], env=env, input=json.dumps({
        "name": "up", "strategy": "oidc", "enabled_clients": [client["client_id"]],
        "options": {"client_id": "x", "client_secret": "s3cret-value-xyz",
                    "discovery_url": "https://idp.example.com/.well-known/openid-configuration"}}))
    assert good.exit_code == 0, good.output
    assert "s3cret-value-xyz" not in good.output
    listed = runner.invoke(main, ["connections", "list"], env=env)
    assert '"name": "up"' in listed.output and "s3cret-value-xyz" not in listed.output


def test_serve_with_two_workers_answers_and_stops(env: dict[str, str]) -> None:
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process_env = {**os.environ, **env, "IDBROKER_ISSUER": f"http://127.0.0.1:{port}/"}
    process = subprocess.Popen(
        [sys.executable, "-m", "idbroker", "serve", "--port", str(port), "--workers", "2"],
        env=process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert answer.status_code == 200
        assert answer.json()["issuer"] == f"http://127.0.0.1:{port}/"
        jwks = httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json").json()
        assert len(jwks["keys"]) == 1 and jwks["keys"][0]["kty"] == "RSA"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_init_works_in_production_mode_and_creates_the_key(env: dict[str, str],
                                                           tmp_path: Path) -> None:
    if "IDBROKER_DATABASE_URL" in env:
        pytest.skip("init is covered on SQLite")
    prod = {**env, "IDBROKER_MODE": "production", "IDBROKER_ISSUER": "https://id.example.com/"}
    result = CliRunner().invoke(main, ["init", "--json"], env=prod)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "vault.key").exists()
