"""security_tests.md A17/A18: list, search and by-email never carry IdP tokens — with or
without ``read:user_idp_tokens`` — and ``q``/``sort`` cannot probe token values. Only the
single-user GET serves them (the control below proves the canaries are real)."""

from __future__ import annotations

import logging

import pytest

from tests.functional.users.conftest import (
    assert_no_token_keys, secret_forms, table_rows, uid_path,
)
from tests.support import Broker

ALICE = "oidc|acme-oidc|alice"


async def test_lists_and_searches_never_carry_idp_tokens(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="idbroker")
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    await broker.login(app)
    alice_upstream = dict(broker.upstream.issued[-1])
    broker.upstream.add_user("bob")
    broker.upstream.set_login("bob")
    await broker.login(app)
    bob_upstream = dict(broker.upstream.issued[-1])
    # Bob's identity is linked under Alice, so a list item holds a secondary identity too.
    linked = await broker.mgmt("POST", f"users/{uid_path(ALICE)}/identities",
                               json={"provider": "oidc", "user_id": "acme-oidc|bob"})
    assert linked.status_code == 201
    broker.upstream.add_user("carol")
    broker.upstream.set_login("carol")
    await broker.login(app)
    carol_upstream = dict(broker.upstream.issued[-1])
    secrets = [s[name] for s in (alice_upstream, bob_upstream, carol_upstream)
               for name in ("access_token", "refresh_token", "id_token")]
    canaries = [form for secret in secrets for form in secret_forms(secret)]

    full = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    plain = await broker.mgmt_token(["read:users"])
    audits_before = len(await table_rows(broker, "audit_log"))
    requests = [
        ("users", {}), ("users", {"include_totals": "true"}),
        ("users", {"fields": "identities.access_token", "include_fields": "true"}),
        ("users", {"fields": "identities.access_token,identities", "include_fields": "true"}),
        ("users", {"fields": "identities.access_token", "include_fields": "false"}),
        ("users", {"fields": "access_token,refresh_token,identities"}),
        ("users", {"q": "email:alice*"}), ("users", {"q": "identities.connection:acme-oidc"}),
        ("users", {"q": "identities.provider:oidc", "sort": "email:-1", "per_page": "1"}),
        ("users", {"connection": "acme-oidc", "include_totals": "true", "page": "0"}),
        ("users-by-email", {"email": "ALICE@example.com"}),
        ("users-by-email", {"email": "alice@example.com", "fields": "identities"}),
    ]
    # Probing with the real token values: refused, and the value is not echoed.
    probes = [("users", {"q": f'identities.access_token:"{alice_upstream["access_token"]}"'}),
              ("users", {"q": f"access_token:{alice_upstream['access_token'][:6]}*"}),
              ("users", {"q": f'identities.refresh_token:"{bob_upstream["refresh_token"]}"'}),
              ("users", {"sort": "identities.access_token:1"}),
              ("users", {"sort": "refresh_token:-1"})]
    for token in (full, plain):
        for path, params in requests:
            response = await broker.mgmt("GET", path, token=token, params=params)
            assert response.status_code == 200, (path, params, response.text)
            assert response.json(), (path, params)
            assert_no_token_keys(response.json())
            for form in canaries:
                assert form not in response.text, (path, params)
        for path, params in probes:
            response = await broker.mgmt("GET", path, token=token, params=params)
            assert response.status_code == 400 and response.json()[
                "errorCode"] == "invalid_query_string"
            for form in canaries:
                assert form not in response.text
    # No token was served, so no token read was audited.
    assert len(await table_rows(broker, "audit_log")) == audits_before
    for form in canaries:
        assert form not in caplog.text

    # Control: the single-user GET with the scope does serve them (the canaries are real).
    single = (await broker.user(ALICE, full)).json()
    assert [i["access_token"] for i in single["identities"]] == [
        alice_upstream["access_token"], bob_upstream["access_token"]]
