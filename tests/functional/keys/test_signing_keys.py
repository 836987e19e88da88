"""Signing keys: listing without private material, rotation that publishes the next key
before use and keeps the previous one, revocation, and a second process that follows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from tests.fakes.routing_transport import RoutingTransport
from tests.support import ISSUER, Broker


def published(jwks: dict) -> list[str]:
    return [k["kid"] for k in jwks["keys"]]


async def jwks_of(http: httpx.AsyncClient) -> list[str]:
    return published((await http.get("/.well-known/jwks.json")).json())


def kid_of(token: str) -> str:
    from idbroker.encoding import b64url_decode
    return json.loads(b64url_decode(token.split(".")[0]))["kid"]


async def test_list_and_get_never_show_private_material(broker: Broker) -> None:
    await broker.mgmt("POST", "keys/signing/rotate")
    response = await broker.mgmt("GET", "keys/signing")
    assert response.status_code == 200
    keys = response.json()
    assert [(k["current"], k["next"], k["previous"]) for k in keys] == [
        (False, False, True), (True, False, False), (False, True, False)]
    for key in keys:
        assert key["cert"].startswith("-----BEGIN CERTIFICATE-----")
        assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
        assert len(key["fingerprint"].split(":")) == 20 and key["revoked"] is False
        assert key["thumbprint"] == key["fingerprint"].replace(":", "")
    assert "current_until" in keys[0] and "current_since" in keys[1]
    raw = response.text + (await broker.mgmt("GET", f"keys/signing/{keys[1]['kid']}")).text
    assert "PRIVATE" not in raw
    for key in broker.runtime.keys.by_kid.values():
        private = key.as_dict(private=True)
        for part in ("d", "p", "q", "dp", "dq", "qi"):
            assert private[part] not in raw
    missing = await broker.mgmt("GET", "keys/signing/nope")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "inexistent_signing_key"
    reader = await broker.mgmt_token(["read:users"])
    assert (await broker.mgmt("GET", "keys/signing", token=reader)).status_code == 403
    assert (await broker.mgmt("POST", "keys/signing/rotate", token=reader)).status_code == 403


async def test_rotation_publishes_next_before_use_and_keeps_previous(broker: Broker) -> None:
    old_token = await broker.admin_token()
    first = kid_of(old_token)
    assert await jwks_of(broker.http) == [first]

    rotated = await broker.mgmt("POST", "keys/signing/rotate")
    assert rotated.status_code == 201 and set(rotated.json()) == {"cert", "kid"}
    second = rotated.json()["kid"]
    keys = {k["kid"]: k for k in (await broker.mgmt("GET", "keys/signing")).json()}
    upcoming = next(kid for kid, k in keys.items() if k["next"])
    # The previous key still verifies what it signed; the next one is published unused.
    assert await jwks_of(broker.http) == [first, second, upcoming]
    assert (await broker.mgmt("GET", "clients", token=old_token)).status_code == 200
    fresh = (await broker.token_for(*await broker.m2m_client(["read:clients"])))["access_token"]
    assert kid_of(fresh) == second

    # The second rotation promotes exactly the key that was published as next.
    third = (await broker.mgmt("POST", "keys/signing/rotate")).json()["kid"]
    assert third == upcoming
    assert (await broker.mgmt("GET", "clients", token=old_token)).status_code == 200


async def test_revocation_is_immediate(broker: Broker) -> None:
    old_token = await broker.admin_token()
    first = kid_of(old_token)
    current = await broker.mgmt("PUT", f"keys/signing/{first}/revoke")
    assert current.status_code == 400  # the current key must be rotated away first
    await broker.mgmt("POST", "keys/signing/rotate")
    new_admin = (await broker.token_for(*await broker.m2m_client(
        ["read:clients", "read:signing_keys", "update:signing_keys"])))["access_token"]
    assert (await broker.mgmt("GET", "clients", token=old_token)).status_code == 200  # cached

    revoked = await broker.mgmt("PUT", f"keys/signing/{first}/revoke", token=new_admin)
    assert revoked.status_code == 200 and revoked.json()["kid"] == first
    assert first not in await jwks_of(broker.http)
    rejected = await broker.mgmt("GET", "clients", token=old_token)
    assert rejected.status_code == 401
    listed = {k["kid"]: k for k in (await broker.mgmt("GET", "keys/signing", token=new_admin)).json()}
    assert listed[first]["revoked"] is True and "revoked_at" in listed[first]
    upcoming = next(kid for kid, k in listed.items() if k["next"])
    assert (await broker.mgmt("PUT", f"keys/signing/{upcoming}/revoke",
                              token=new_admin)).status_code == 400
    assert (await broker.mgmt("PUT", "keys/signing/nope/revoke",
                              token=new_admin)).status_code == 404


@pytest.fixture
async def second_process(settings: Settings, broker: Broker) -> AsyncIterator[httpx.AsyncClient]:
    """Another idbroker process on the same database: its own runtime, keys and caches."""
    upstream_http = httpx.AsyncClient(transport=RoutingTransport({}))
    runtime = await Runtime.start(settings, http=upstream_http)
    try:
        app = create_app(runtime=runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=ISSUER) as http:
            http.runtime = runtime  # type: ignore[attr-defined]
            yield http
    finally:
        await runtime.close()
        await upstream_http.aclose()


async def test_another_process_follows_rotation_and_revocation(
        broker: Broker, second_process: httpx.AsyncClient) -> None:
    other: Runtime = second_process.runtime  # type: ignore[attr-defined]
    old_token = await broker.admin_token()
    headers = {"Authorization": f"Bearer {old_token}"}
    assert (await second_process.get("/api/v2/clients", headers=headers)).status_code == 200
    assert await other.keys.refresh(other.store) is False  # nothing changed yet

    await broker.mgmt("POST", "keys/signing/rotate")
    new_token = (await broker.token_for(*await broker.m2m_client(
        ["read:clients", "update:signing_keys"])))["access_token"]
    # Process B has never seen the new key: the unknown kid makes it reload, once.
    response = await second_process.get("/api/v2/clients",
                                         headers={"Authorization": f"Bearer {new_token}"})
    assert response.status_code == 200, response.text
    assert kid_of(new_token) in await jwks_of(second_process)

    await broker.mgmt("PUT", f"keys/signing/{kid_of(old_token)}/revoke", token=new_token)
    # B's periodic key-set check (every IDBROKER_SIGNING_KEYS_CHECK_INTERVAL) notices.
    assert await other.keys.refresh(other.store) is True
    assert (await second_process.get("/api/v2/clients", headers=headers)).status_code == 401
    assert kid_of(old_token) not in await jwks_of(second_process)
