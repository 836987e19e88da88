"""The demo/fake upstream OpenID Connect provider, exercised over HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport

ISSUER = "https://idp.example.test"
REDIRECT_URI = "https://idbroker.example.test/login/callback"
FULL_SCOPE = "openid profile email offline_access"


@pytest.fixture
def fake() -> FakeOIDCUpstream:
    return FakeOIDCUpstream(issuer=ISSUER, redirect_uris=[REDIRECT_URI])


@pytest.fixture
async def http(fake: FakeOIDCUpstream) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.transport(), base_url=ISSUER) as client:
        yield client


def new_pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_params(challenge: str, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "upstream-client",
        "redirect_uri": REDIRECT_URI,
        "scope": FULL_SCOPE,
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def query_of(response: httpx.Response) -> dict[str, str]:
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def get_code(http: httpx.AsyncClient, **overrides: str | None) -> tuple[str, str]:
    verifier, challenge = new_pkce()
    response = await http.get("/authorize", params=authorize_params(challenge, **overrides))
    assert response.status_code == 302, response.text
    return query_of(response)["code"], verifier


async def token_request(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream, data: dict[str, str], secret: str | None = None
) -> httpx.Response:
    auth = (fake.client_id, secret or fake.client_secret)
    return await http.post("/token", data=data, auth=auth)


async def exchange(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream, code: str, verifier: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    return await token_request(http, fake, data)


async def sign_in(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream, **overrides: str | None
) -> dict[str, Any]:
    code, verifier = await get_code(http, **overrides)
    response = await exchange(http, fake, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(http: httpx.AsyncClient, fake: FakeOIDCUpstream, token: str) -> httpx.Response:
    return await token_request(http, fake, {"grant_type": "refresh_token", "refresh_token": token})


async def verify_id_token(http: httpx.AsyncClient, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set((await http.get("/jwks")).json())
    claims: dict[str, Any] = jwt.decode(id_token, keys, algorithms=["RS256"]).claims
    return claims


# -- discovery ----------------------------------------------------------------


async def test_discovery_document_describes_the_provider(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert doc["token_endpoint"] == f"{ISSUER}/token"
    assert doc["jwks_uri"] == f"{ISSUER}/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["authorization_response_iss_parameter_supported"] is True


async def test_issuer_is_kept_exactly_as_configured() -> None:
    fake = FakeOIDCUpstream(issuer="https://idp.example.test/")
    async with httpx.AsyncClient(transport=fake.transport(), base_url=ISSUER) as client:
        doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == "https://idp.example.test/"
    assert doc["token_endpoint"] == "https://idp.example.test/token"


async def test_jwks_publishes_the_rsa_signing_key(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    (key,) = (await http.get("/jwks")).json()["keys"]
    assert (key["kty"], key["alg"], key["use"], key["kid"]) == ("RSA", "RS256", "sig", fake.idp.kid)
    assert "d" not in key


# -- authorization endpoint ---------------------------------------------------


async def test_authorization_response_carries_code_state_and_iss(http: httpx.AsyncClient) -> None:
    _, challenge = new_pkce()
    response = await http.get("/authorize", params=authorize_params(challenge))
    params = query_of(response)
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
    assert len(params["code"]) >= 32


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile email"}, "invalid_scope"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
    ],
)
async def test_authorization_errors_are_redirected(
    http: httpx.AsyncClient, overrides: dict[str, Any], error: str
) -> None:
    _, challenge = new_pkce()
    response = await http.get("/authorize", params=authorize_params(challenge, **overrides))
    params = query_of(response)
    assert params["error"] == error
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
    assert "code" not in params


@pytest.mark.parametrize(
    "overrides",
    [{"client_id": "nobody"}, {"redirect_uri": "https://evil.example/cb"}, {"redirect_uri": None}],
)
async def test_unknown_client_or_redirect_uri_is_never_redirected(
    http: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    _, challenge = new_pkce()
    response = await http.get("/authorize", params=authorize_params(challenge, **overrides))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


async def test_login_page_lists_users_and_escapes_parameters(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    fake.set_login(None)
    _, challenge = new_pkce()
    params = authorize_params(challenge, state='"><script>alert(1)</script>', login_hint="bob")
    response = await http.get("/authorize", params=params)
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text
    assert "&#34;&gt;&lt;script&gt;" in response.text
    assert 'value="alice"' in response.text
    assert 'value="bob"' in response.text
    assert "Deny" in response.text


async def test_login_decision_approves_or_denies(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    fake.set_login(None)
    verifier, challenge = new_pkce()
    form = authorize_params(challenge)
    approved = await http.post("/authorize/decision", data={**form, "user": "bob"})
    assert approved.status_code == 303
    tokens = (await exchange(http, fake, query_of(approved)["code"], verifier)).json()
    assert (await verify_id_token(http, tokens["id_token"]))["sub"] == "bob"

    denied = await http.post("/authorize/decision", data={**form, "deny": "1"})
    assert query_of(denied)["error"] == "access_denied"


async def test_prompt_none_without_a_session_is_login_required(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    fake.set_login(None)
    _, challenge = new_pkce()
    response = await http.get("/authorize", params=authorize_params(challenge, prompt="none"))
    assert query_of(response)["error"] == "login_required"


# -- token endpoint: authorization code ----------------------------------------


async def test_code_flow_issues_verifiable_tokens(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    code, verifier = await get_code(http)
    response = await exchange(http, fake, code, verifier)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == FULL_SCOPE
    assert tokens["refresh_token"]
    claims = await verify_id_token(http, tokens["id_token"])
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, "upstream-client", "alice")
    assert claims["nonce"] == "nonce-456"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Martin"
    assert isinstance(claims["iat"], int)
    assert claims["exp"] > claims["iat"]
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert fake.issued == [tokens]


async def test_client_secret_post_is_accepted(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    code, verifier = await get_code(http)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
    }
    response = await http.post("/token", data=data)
    assert response.status_code == 200, response.text


async def test_wrong_client_secret_is_invalid_client(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    code, verifier = await get_code(http)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    response = await token_request(http, fake, data, secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["cache-control"] == "no-store"


async def test_bad_pkce_verifier_is_invalid_grant(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    code, _ = await get_code(http)
    response = await exchange(http, fake, code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_code_is_single_use_and_replay_revokes_its_tokens(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    code, verifier = await get_code(http)
    tokens = (await exchange(http, fake, code, verifier)).json()
    replay = await exchange(http, fake, code, verifier)
    assert replay.json()["error"] == "invalid_grant"
    me = await http.get("/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401


async def test_code_is_bound_to_redirect_uri_and_expires(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    code, verifier = await get_code(http)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": "https://idbroker.example.test/other",
    }
    assert (await token_request(http, fake, data)).json()["error"] == "invalid_grant"

    code, verifier = await get_code(http)
    expires_at = fake.idp.codes[code].expires_at
    fake.idp.clock = lambda: expires_at + 1
    assert (await exchange(http, fake, code, verifier)).json()["error"] == "invalid_grant"


async def test_token_endpoint_requires_form_encoding(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    code, verifier = await get_code(http)
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    response = await http.post("/token", json=body, auth=(fake.client_id, fake.client_secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_unknown_grant_type_is_rejected(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    response = await token_request(http, fake, {"grant_type": "password"})
    assert response.json()["error"] == "unsupported_grant_type"


# -- refresh tokens ------------------------------------------------------------


async def test_refresh_tokens_rotate_and_reuse_is_rejected(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    first = await sign_in(http, fake)
    rotated = (await refresh(http, fake, first["refresh_token"])).json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    claims = await verify_id_token(http, rotated["id_token"])
    assert claims["sub"] == "alice"
    assert "nonce" not in claims

    reused = await refresh(http, fake, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert (await refresh(http, fake, rotated["refresh_token"])).status_code == 200


async def test_refresh_token_needs_offline_access_or_access_type(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    assert "refresh_token" not in await sign_in(http, fake, scope="openid email")
    assert "refresh_token" in await sign_in(http, fake, scope="openid email", access_type="offline")


async def test_refresh_cannot_widen_scope(http: httpx.AsyncClient, fake: FakeOIDCUpstream) -> None:
    tokens = await sign_in(http, fake, scope="openid email offline_access")
    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "scope": "openid profile",
    }
    assert (await token_request(http, fake, data)).json()["error"] == "invalid_scope"


# -- userinfo, provider API, revocation, introspection --------------------------


async def test_userinfo_returns_claims_for_the_granted_scopes(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    tokens = await sign_in(http, fake, scope="openid email")
    response = await http.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.json() == {"sub": "alice", "email": "alice@example.com", "email_verified": True}


async def test_userinfo_rejects_missing_or_unknown_tokens(http: httpx.AsyncClient) -> None:
    missing = await http.get("/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    unknown = await http.post("/userinfo", headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]


async def test_provider_api_answers_with_the_access_token(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    tokens = await sign_in(http, fake)
    body = (
        await http.get("/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    ).json()
    assert body["sub"] == "alice"
    assert body["message"].startswith("Hello Alice Martin")
    assert body["scopes"] == FULL_SCOPE.split()
    assert (await http.get("/api/me", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_revoking_a_refresh_token_kills_its_access_tokens(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    tokens = await sign_in(http, fake)
    auth = (fake.client_id, fake.client_secret)
    revoked = await http.post("/revoke", data={"token": tokens["refresh_token"]}, auth=auth)
    assert revoked.status_code == 200
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await http.get("/userinfo", headers=bearer)).status_code == 401
    assert (await refresh(http, fake, tokens["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await http.post("/revoke", data={"token": "unknown"}, auth=auth)).status_code == 200
    assert (
        await http.post("/revoke", data={"token": "x"}, auth=(fake.client_id, "bad"))
    ).status_code == 401


async def test_introspection_reports_active_and_inactive_tokens(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    tokens = await sign_in(http, fake)
    auth = (fake.client_id, fake.client_secret)
    active = (
        await http.post("/introspect", data={"token": tokens["access_token"]}, auth=auth)
    ).json()
    assert active["active"] is True
    assert (active["sub"], active["client_id"], active["token_type"]) == (
        "alice",
        fake.client_id,
        "Bearer",
    )
    assert active["scope"] == FULL_SCOPE
    assert active["exp"] > active["iat"]

    await http.post("/revoke", data={"token": tokens["access_token"]}, auth=auth)
    for token in (tokens["access_token"], "unknown"):
        body = (await http.post("/introspect", data={"token": token}, auth=auth)).json()
        assert body == {"active": False}


async def test_expired_access_token_is_inactive(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    tokens = await sign_in(http, fake)
    expires_at = fake.idp.tokens[tokens["access_token"]].exp
    fake.idp.clock = lambda: expires_at
    response = await http.get(
        "/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 401


# -- defect injection ----------------------------------------------------------


async def test_hooks_replace_the_token_response(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    fake.hooks.token_status = 500
    assert (await token_request(http, fake, {"grant_type": "refresh_token"})).status_code == 500
    fake.reset_hooks()
    fake.hooks.token_body, fake.hooks.token_content_type = "<html>oops</html>", "text/html"
    response = await token_request(http, fake, {"grant_type": "refresh_token"})
    assert (response.status_code, response.text) == (200, "<html>oops</html>")
    assert response.headers["content-type"].startswith("text/html")
    fake.reset_hooks()
    fake.hooks.token_error = "invalid_grant"
    assert (await token_request(http, fake, {"grant_type": "refresh_token"})).json()[
        "error"
    ] == "invalid_grant"


async def test_hooks_alter_successful_token_responses(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    fake.hooks.token_type = "mac"
    fake.hooks.omit_refresh_token = True
    fake.hooks.omit_expires_in = True
    tokens = await sign_in(http, fake)
    assert tokens["token_type"] == "mac"
    assert "refresh_token" not in tokens
    assert "expires_in" not in tokens


async def test_hooks_tamper_with_the_id_token(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    fake.hooks.id_token_claims = {"aud": "someone-else", "email": None}
    claims = await verify_id_token(http, (await sign_in(http, fake))["id_token"])
    assert claims["aud"] == "someone-else"
    assert "email" not in claims

    fake.reset_hooks()
    fake.hooks.id_token_alg = "none"
    unsigned = (await sign_in(http, fake))["id_token"]
    assert unsigned.endswith(".")
    with pytest.raises(JoseError):
        await verify_id_token(http, unsigned)

    fake.reset_hooks()
    fake.hooks.sign_with_foreign_key = True
    with pytest.raises(JoseError):
        await verify_id_token(http, (await sign_in(http, fake))["id_token"])

    fake.reset_hooks()
    fake.hooks.id_token_alg = "HS256"
    with pytest.raises(JoseError):
        await verify_id_token(http, (await sign_in(http, fake))["id_token"])


async def test_hooks_change_the_authorization_response_iss(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    _, challenge = new_pkce()
    fake.hooks.authorize_iss = "https://attacker.example"
    assert (
        query_of(await http.get("/authorize", params=authorize_params(challenge)))["iss"]
        == "https://attacker.example"
    )
    fake.hooks.authorize_iss = ""
    assert "iss" not in query_of(await http.get("/authorize", params=authorize_params(challenge)))


async def test_hooks_alter_userinfo(http: httpx.AsyncClient, fake: FakeOIDCUpstream) -> None:
    bearer = {"Authorization": f"Bearer {(await sign_in(http, fake))['access_token']}"}
    fake.hooks.userinfo_claims = {"sub": "mallory", "email": None}
    assert (await http.get("/userinfo", headers=bearer)).json()["sub"] == "mallory"
    fake.hooks.userinfo_status = 503
    assert (await http.get("/userinfo", headers=bearer)).status_code == 503


async def test_token_delay_simulates_a_slow_upstream(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    fake.hooks.token_delay = 5
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(token_request(http, fake, {"grant_type": "refresh_token"}), 0.05)


async def test_calls_are_counted_per_endpoint(
    http: httpx.AsyncClient, fake: FakeOIDCUpstream
) -> None:
    await http.get("/.well-known/openid-configuration")
    await sign_in(http, fake)
    assert (fake.calls["discovery"], fake.calls["authorize"], fake.calls["token"]) == (1, 1, 1)


# -- routing transport ---------------------------------------------------------


async def test_routing_transport_dispatches_by_host_and_refuses_unknown_hosts(
    fake: FakeOIDCUpstream,
) -> None:
    transport = RoutingTransport({fake.host: fake.app})
    async with httpx.AsyncClient(transport=transport) as client:
        doc = (await client.get(f"{ISSUER}/.well-known/openid-configuration")).json()
        assert doc["issuer"] == ISSUER
        with pytest.raises(httpx.ConnectError):
            await client.get("https://elsewhere.example/")
