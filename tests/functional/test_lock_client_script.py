"""``GET /client/{id}.js``: the configuration script Lock loads (auth0_compat.md §2.7). Lock
itself runs against it in tests/browser/test_lock.py; here, the exact shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import ISSUER, Broker

PREFIX = "Auth0.setClient("


def parse_script(text: str) -> dict[str, Any]:
    assert text.startswith(PREFIX) and text.rstrip().endswith(");"), text
    config: dict[str, Any] = json.loads(text[len(PREFIX):text.rstrip().rindex(");")])
    return config


async def social(broker: Broker, name: str, clients: list[str], **extra: Any) -> None:
    up = broker.upstream.issuer
    response = await broker.mgmt("POST", "connections", json={
        "name": name, "strategy": "oauth2", "enabled_clients": clients, **extra,
        "options": {"authorizationURL": f"{up}/authorize", "tokenURL": f"{up}/token",
                    "profileURL": f"{up}/userinfo", "client_id": "c", "client_secret": "s"}})
    assert response.status_code == 201, response.text


async def test_the_script_lists_the_enabled_connections_grouped_by_strategy(
        broker: Broker) -> None:
    app = await broker.web_app(app_type="spa", web_origins=["https://app.example.test"])
    other = await broker.web_app()
    await broker.oidc_connection([app["client_id"]], name="acme-oidc",
                                 domain_aliases=["acme.example"])
    await social(broker, "zeta-social", [app["client_id"]], display_name="Zeta")
    await social(broker, "alpha-social", [app["client_id"]])
    await social(broker, "not-for-this-app", [other["client_id"]])

    # Lock's cache buster is literally "t" and the time in milliseconds, without "=".
    response = await broker.http.get(f"/client/{app['client_id']}.js?t1790000000000")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    config = parse_script(response.text)
    assert config["id"] == app["client_id"]
    assert config["authorize"] == f"{ISSUER}authorize"
    assert config["callback"] == app["callbacks"][0]
    assert config["hasAllowedOrigins"] is True
    assert isinstance(config["tenant"], str) and config["subscription"] == "free"
    assert config["strategies"] == [
        {"name": "oauth2", "connections": [{"name": "alpha-social"},
                                           {"name": "zeta-social", "display_name": "Zeta"}]},
        {"name": "oidc", "connections": [{"name": "acme-oidc", "domain": "acme.example",
                                          "domain_aliases": ["acme.example"]}]},
    ]
    other_config = parse_script((await broker.http.get(f"/client/{other['client_id']}.js")).text)
    assert other_config["strategies"] == [
        {"name": "oauth2", "connections": [{"name": "not-for-this-app"}]}]
    assert other_config["hasAllowedOrigins"] is False


async def test_a_database_connection_carries_the_settings_lock_follows(broker: Broker) -> None:
    app = await broker.web_app(app_type="spa")
    response = await broker.mgmt("POST", "connections", json={
        "name": "Username-Password-Authentication", "strategy": "auth0",
        "enabled_clients": [app["client_id"]],
        "options": {"passwordPolicy": "good", "requires_username": True,
                    "password_complexity_options": {"min_length": 10},
                    "validation": {"username": {"min": 3, "max": 20}}}})
    assert response.status_code == 201, response.text

    config = parse_script((await broker.http.get(f"/client/{app['client_id']}.js")).text)

    assert config["strategies"] == [{"name": "auth0", "connections": [{
        "name": "Username-Password-Authentication", "passwordPolicy": "good",
        "password_complexity_options": {"min_length": 10}, "showSignup": True,
        "showForgot": True, "requires_username": True,
        "validation": {"username": {"min": 3, "max": 20}}}]}]


@pytest.mark.parametrize("client_id", ["no-such-client", "bad.id", "x" * 300])
async def test_an_unknown_client_gets_a_404_script(broker: Broker, client_id: str) -> None:
    response = await broker.http.get(f"/client/{client_id}.js?t1")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/javascript")
    assert "setClient" not in response.text


async def test_names_cannot_break_out_of_the_script(broker: Broker) -> None:
    app = await broker.web_app(app_type="spa")
    await social(broker, "plain", [app["client_id"]],
                 display_name="</script><script>alert(1)</script>&\u2028")
    text = (await broker.http.get(f"/client/{app['client_id']}.js")).text
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    connection = parse_script(text)["strategies"][0]["connections"][0]
    assert connection["display_name"] == "</script><script>alert(1)</script>&\u2028"
