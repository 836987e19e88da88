"""The seed scenario end to end: sign in through an upstream OIDC provider, then read that
provider's tokens back through the Management API — only with read:user_idp_tokens."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support import ISSUER, Broker


async def test_login_then_read_idp_tokens_only_with_the_scope(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])

    login = await broker.login(app)
    tokens = await broker.exchange(app, login)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int)

    jwks = (await broker.http.get("/.well-known/jwks.json")).json()
    id_token = jwt.decode(body["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    claims = id_token.claims
    assert id_token.header["alg"] == "RS256" and id_token.header["kid"]
    assert claims["iss"] == ISSUER
    assert claims["aud"] == app["client_id"]
    assert claims["nonce"] == login.nonce
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    user_id = claims["sub"]
    assert user_id == "oidc|acme-oidc|alice"
    assert claims["email"] == "alice@example.com"

    upstream_tokens = broker.upstream.issued[-1]

    reader = await broker.mgmt_token(["read:users"])
    plain = await broker.user(user_id, reader)
    assert plain.status_code == 200
    identity = plain.json()["identities"][0]
    assert {k: identity[k] for k in ("provider", "user_id", "connection", "isSocial")} == {
        "provider": "oidc", "user_id": "acme-oidc|alice", "connection": "acme-oidc",
        "isSocial": False}
    assert not {"access_token", "refresh_token", "access_token_secret", "expires_in",
                "id_token"} & set(identity)
    assert upstream_tokens["access_token"] not in plain.text

    vault_reader = await broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    full = await broker.user(user_id, vault_reader)
    assert full.status_code == 200
    assert full.headers["cache-control"] == "no-store"
    identity = full.json()["identities"][0]
    assert identity["access_token"] == upstream_tokens["access_token"]
    assert identity["refresh_token"] == upstream_tokens["refresh_token"]
    assert 0 < identity["expires_in"] <= 3600

    # The token really works at the provider's API.
    async with httpx.AsyncClient(transport=broker.upstream.transport()) as idp:
        answer = await idp.get(f"{broker.upstream.issuer}/api/me",
                               headers={"Authorization": f"Bearer {identity['access_token']}"})
    assert answer.status_code == 200 and answer.json()["sub"] == "alice"

    audit = await broker.runtime.store.list_audit(user_id=user_id)
    reads = [e for e in audit if e["type"] == "mgmt_api_read"]
    assert len(reads) == 1 and reads[0]["details"]["connections"] == ["acme-oidc"]
