"""The unmodified auth0-python SDK (6.8.0) against idbroker over real HTTP on loopback.

What a developer following Auth0's own docs would do, end to end: get a Management API
token with ``GetToken.client_credentials``, configure the tenant with the v6 (Fern)
``auth0.management.Auth0`` client, let a person sign in through an upstream OIDC provider,
exchange the code with ``GetToken.authorization_code``, verify the ID token with the SDK's
own ``TokenVerifier``, and read the provider's tokens back through ``users.get``."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from auth0.authentication import GetToken, Users
from auth0.authentication.exceptions import Auth0Error
from auth0.authentication.token_verifier import AsymmetricSignatureVerifier, TokenVerifier
from auth0.management import Auth0
from auth0.management.core import ParsingError
from auth0.management.errors import NotFoundError
from auth0.management.types import (
    CreateClientGrantResponseContent,
    CreateClientResponseContent,
    CreateConnectionResponseContent,
    GetUserResponseContent,
)

from idbroker.oauth.scopes import MANAGEMENT_SCOPES
from tests.interop.conftest import Stack

CONNECTION = "acme-oidc"
LOGIN_SCOPE = "openid profile email offline_access"
USER_ID = f"oidc|{CONNECTION}|alice"
IDP_TOKEN_KEYS = ("access_token", "refresh_token", "access_token_secret", "expires_in")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def get_token(stack: Stack, client_id: str, client_secret: str | None) -> GetToken:
    return GetToken(stack.domain, client_id, client_secret=client_secret, protocol="http")


def management(stack: Stack, token: str) -> Auth0:
    # max_retries=0: nothing here should need a retry, and a retried 409/5xx would hide it.
    return Auth0(base_url=stack.management_base_url, token=token, timeout=10, max_retries=0)


# --- tenant set-up through the SDK ------------------------------------------------------------


@dataclass(frozen=True)
class M2M:
    client: CreateClientResponseContent
    grant: CreateClientGrantResponseContent

    def token(self, stack: Stack) -> dict[str, Any]:
        assert self.client.client_id and self.client.client_secret
        return get_token(stack, self.client.client_id, self.client.client_secret) \
            .client_credentials(audience=stack.management_audience)


@dataclass(frozen=True)
class Tenant:
    admin_token: dict[str, Any]
    app: CreateClientResponseContent
    connection: CreateConnectionResponseContent
    reader: M2M
    vault_reader: M2M

    @property
    def app_id(self) -> str:
        assert self.app.client_id
        return self.app.client_id

    @property
    def app_secret(self) -> str:
        assert self.app.client_secret
        return self.app.client_secret


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    admin_token = get_token(stack, stack.bootstrap_client_id, stack.bootstrap_client_secret) \
        .client_credentials(audience=stack.management_audience)
    mgmt = management(stack, admin_token["access_token"])

    app = mgmt.clients.create(name="Interop web app", app_type="regular_web",
                              callbacks=[stack.app_callback])
    assert app.client_id
    connection = mgmt.connections.create(
        name=CONNECTION, strategy="oidc", enabled_clients=[app.client_id],
        options={"discovery_url": f"{stack.upstream_url}/.well-known/openid-configuration",
                 "client_id": stack.upstream.client_id,
                 "client_secret": stack.upstream.client_secret,
                 "scope": LOGIN_SCOPE})

    def m2m(name: str, scopes: list[str]) -> M2M:
        client = mgmt.clients.create(name=name, app_type="non_interactive")
        grant = mgmt.client_grants.create(client_id=client.client_id,
                                          audience=stack.management_audience, scope=scopes)
        return M2M(client, grant)

    return Tenant(admin_token=admin_token, app=app, connection=connection,
                  reader=m2m("Reader", ["read:users"]),
                  vault_reader=m2m("Vault reader", ["read:users", "read:user_idp_tokens"]))


# --- a person's login over real HTTP ----------------------------------------------------------


@dataclass(frozen=True)
class Login:
    code: str
    nonce: str
    upstream_tokens: dict[str, Any]


def browser_login(stack: Stack, tenant: Tenant) -> Login:
    """What a browser does: /authorize → upstream (auto-approves alice) → broker callback →
    app callback with code and state. Two cookie jars, one per site, redirects by hand."""
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": tenant.app_id,
              "redirect_uri": stack.app_callback, "scope": LOGIN_SCOPE, "state": state,
              "nonce": nonce, "connection": CONNECTION}
    with httpx.Client(base_url=stack.base_url, follow_redirects=False, timeout=10) as broker, \
            httpx.Client(follow_redirects=False, timeout=10) as idp:
        started = broker.get("/authorize?" + urlencode(params))
        assert started.status_code == 302, started.text
        to_upstream = started.headers["location"]
        assert to_upstream.startswith(f"{stack.upstream_url}/authorize?"), to_upstream
        assert query_of(to_upstream)["redirect_uri"] == f"{stack.issuer}login/callback"

        approved = idp.get(to_upstream)
        assert approved.status_code in (302, 303), approved.text
        back = approved.headers["location"]
        assert back.startswith(f"{stack.issuer}login/callback?"), back

        finished = broker.get(back)
        assert finished.status_code == 302, finished.text
        to_app = finished.headers["location"]
    assert to_app.startswith(stack.app_callback + "?"), to_app
    result = query_of(to_app)
    assert result["state"] == state
    assert "error" not in result
    return Login(code=result["code"], nonce=nonce,
                 upstream_tokens=dict(stack.upstream.issued[-1]))


@dataclass(frozen=True)
class SignedIn:
    login: Login
    tokens: dict[str, Any]


@pytest.fixture(scope="module")
def signed_in(stack: Stack, tenant: Tenant) -> SignedIn:
    login = browser_login(stack, tenant)
    tokens = get_token(stack, tenant.app_id, tenant.app_secret) \
        .authorization_code(code=login.code, redirect_uri=stack.app_callback)
    return SignedIn(login=login, tokens=tokens)


def id_token_verifier(stack: Stack, tenant: Tenant) -> TokenVerifier:
    return TokenVerifier(signature_verifier=AsymmetricSignatureVerifier(stack.jwks_url),
                         issuer=stack.issuer, audience=tenant.app_id)


@pytest.fixture
def raw_http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        yield client


# --- 1. client_credentials ---------------------------------------------------------------------


def test_client_credentials_token_for_the_management_api(stack: Stack) -> None:
    auth = get_token(stack, stack.bootstrap_client_id, stack.bootstrap_client_secret)
    body = auth.client_credentials(audience=stack.management_audience)
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["scope"], str)
    assert set(body["scope"].split(" ")) == set(MANAGEMENT_SCOPES)

    # auth0-python's convention: the Management API is https://{domain}/api/v2/, even when
    # the SDK reaches the broker over plain http.
    spelled_https = auth.client_credentials(audience=stack.https_management_audience)
    assert spelled_https["token_type"] == "Bearer"
    assert set(spelled_https["scope"].split(" ")) == set(MANAGEMENT_SCOPES)
    # ...and the token works against the Management API.
    mgmt = management(stack, spelled_https["access_token"])
    with pytest.raises(NotFoundError):
        mgmt.users.get("oidc|nobody|nobody")


# --- 2. tenant set-up with the v6 Management client --------------------------------------------


def test_v6_management_client_configures_the_tenant(stack: Stack, tenant: Tenant) -> None:
    # The fixture's calls returned typed models (no ParsingError); check what they carry.
    assert isinstance(tenant.app, CreateClientResponseContent)
    assert tenant.app.name == "Interop web app"
    assert tenant.app.app_type == "regular_web"
    assert list(tenant.app.callbacks or []) == [stack.app_callback]
    assert tenant.app.client_secret

    assert isinstance(tenant.connection, CreateConnectionResponseContent)
    assert tenant.connection.name == CONNECTION
    assert tenant.connection.strategy == "oidc"
    assert tenant.connection.id
    assert list(tenant.connection.enabled_clients or []) == [tenant.app_id]
    options = tenant.connection.options or {}  # typed as a plain dict in v6
    assert options["discovery_url"] == f"{stack.upstream_url}/.well-known/openid-configuration"
    assert options["client_id"] == stack.upstream.client_id
    # A connection's upstream client secret is a secret: never echoed back.
    assert stack.upstream.client_secret not in tenant.connection.model_dump_json()

    for m2m, scopes in ((tenant.reader, ["read:users"]),
                        (tenant.vault_reader, ["read:users", "read:user_idp_tokens"])):
        assert isinstance(m2m.client, CreateClientResponseContent)
        assert m2m.client.app_type == "non_interactive" and m2m.client.client_secret
        assert isinstance(m2m.grant, CreateClientGrantResponseContent)
        assert m2m.grant.id and m2m.grant.client_id == m2m.client.client_id
        assert m2m.grant.audience == stack.management_audience
        assert sorted(m2m.grant.scope or []) == sorted(scopes)
        token = m2m.token(stack)
        assert set(token["scope"].split(" ")) == set(scopes)

    # Reading the objects back parses too.
    mgmt = management(stack, tenant.admin_token["access_token"])
    fetched = mgmt.clients.get(tenant.app_id)
    assert fetched.client_id == tenant.app_id and fetched.app_type == "regular_web"
    assert tenant.connection.id
    connection = mgmt.connections.get(tenant.connection.id)
    assert connection.name == CONNECTION and connection.strategy == "oidc"


def test_v6_list_calls_parse(stack: Stack, tenant: Tenant) -> None:
    mgmt = management(stack, tenant.admin_token["access_token"])
    # islice: a server that ignored `page` would make the offset pager loop for ever.
    clients = list(itertools.islice(mgmt.clients.list(per_page=2), 50))
    ids = [c.client_id for c in clients]
    assert len(ids) == len(set(ids)) and tenant.app_id in ids
    connections = list(itertools.islice(mgmt.connections.list(), 50))
    assert CONNECTION in [c.name for c in connections]
    grants = list(itertools.islice(mgmt.client_grants.list(), 50))
    assert tenant.reader.grant.id in [g.id for g in grants]


# --- 3. login, code exchange and ID token verification -----------------------------------------


def test_login_code_exchange_and_id_token_verification(stack: Stack, tenant: Tenant,
                                                       signed_in: SignedIn) -> None:
    tokens = signed_in.tokens
    assert tokens["token_type"] == "Bearer"
    assert isinstance(tokens["expires_in"], int) and tokens["expires_in"] > 0
    assert isinstance(tokens["access_token"], str)
    assert isinstance(tokens["refresh_token"], str)  # offline_access was requested
    assert set(tokens["scope"].split(" ")) == set(LOGIN_SCOPE.split(" "))

    claims = id_token_verifier(stack, tenant).verify(tokens["id_token"],
                                                     nonce=signed_in.login.nonce)
    assert claims["iss"] == stack.issuer
    assert claims["aud"] == tenant.app_id
    assert claims["sub"] == USER_ID
    assert claims["email"] == "alice@example.com"


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(stack: Stack,
                                                               tenant: Tenant) -> None:
    # A login of its own: the replay revokes that login's tokens (RFC 6749 §4.1.2).
    login = browser_login(stack, tenant)
    auth = get_token(stack, tenant.app_id, tenant.app_secret)
    tokens = auth.authorization_code(code=login.code, redirect_uri=stack.app_callback)
    userinfo = Users(stack.domain, protocol="http")
    assert userinfo.userinfo(tokens["access_token"])["sub"] == USER_ID

    with pytest.raises(Auth0Error) as err:
        auth.authorization_code(code=login.code, redirect_uri=stack.app_callback)
    assert err.value.error_code == "invalid_grant"

    with pytest.raises(Auth0Error) as err:
        userinfo.userinfo(tokens["access_token"])
    assert err.value.status_code == 401
    with pytest.raises(Auth0Error) as err:
        auth.refresh_token(tokens["refresh_token"])
    assert err.value.error_code == "invalid_grant"


# --- 4. the upstream's tokens through users.get, only with read:user_idp_tokens ----------------


def test_idp_tokens_only_with_read_user_idp_tokens(stack: Stack, tenant: Tenant,
                                                  signed_in: SignedIn,
                                                  raw_http: httpx.Client) -> None:
    # The identity holds what the provider issued at alice's most recent login.
    upstream = stack.upstream.issued[-1]

    # read:users only: the identity is there, its provider tokens are not.
    reader_token = tenant.reader.token(stack)["access_token"]
    user = management(stack, reader_token).users.get(USER_ID)
    assert isinstance(user, GetUserResponseContent)
    assert user.user_id == USER_ID
    assert user.identities and len(user.identities) == 1
    identity = user.identities[0]
    assert identity.connection == CONNECTION and identity.provider == "oidc"
    for key in IDP_TOKEN_KEYS:
        assert getattr(identity, key, None) is None, key
        assert key not in identity.model_fields_set, key
        assert key not in (identity.model_extra or {}), key

    raw = raw_http.get(f"/api/v2/users/{quote(USER_ID, safe='')}",
                       headers={"Authorization": f"Bearer {reader_token}"})
    assert raw.status_code == 200, raw.text
    for key in IDP_TOKEN_KEYS:
        assert key not in raw.json()["identities"][0], key
    assert upstream["access_token"] not in raw.text
    assert upstream["refresh_token"] not in raw.text

    # read:user_idp_tokens: the identity carries the upstream's tokens.
    vault_token = tenant.vault_reader.token(stack)["access_token"]
    user = management(stack, vault_token).users.get(USER_ID)
    assert user.identities
    identity = user.identities[0]
    assert identity.access_token == upstream["access_token"]
    assert identity.refresh_token == upstream["refresh_token"]
    expires_in = (identity.model_extra or {}).get("expires_in")
    assert isinstance(expires_in, int) and 0 < expires_in <= 3600

    # ...and that access token really works at the provider, over real HTTP.
    with httpx.Client(timeout=10) as idp:
        answer = idp.get(f"{stack.upstream_url}/userinfo",
                         headers={"Authorization": f"Bearer {identity.access_token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == "alice"


# --- 5. fields / include_fields ------------------------------------------------------------------


def test_users_get_fields_and_include_fields(stack: Stack, tenant: Tenant,
                                             signed_in: SignedIn) -> None:
    users = management(stack, tenant.reader.token(stack)["access_token"]).users

    only = users.get(USER_ID, fields="user_id,identities", include_fields=True)
    assert only.user_id == USER_ID
    assert only.identities and only.identities[0].connection == CONNECTION
    assert only.model_fields_set | set(only.model_extra or {}) == {"user_id", "identities"}

    without = users.get(USER_ID, fields="user_id,identities", include_fields=False)
    assert without.user_id is None and without.identities is None
    assert "user_id" not in without.model_fields_set
    assert "identities" not in without.model_fields_set
    assert without.email == "alice@example.com"


# --- 6. /userinfo with the Authentication API Users class --------------------------------------


def test_userinfo_with_the_login_access_token(stack: Stack, signed_in: SignedIn) -> None:
    info = Users(stack.domain, protocol="http").userinfo(signed_in.tokens["access_token"])
    assert info["sub"] == USER_ID
    assert info["email"] == "alice@example.com"
    assert info["email_verified"] is True


# --- 7. errors, as the SDK surfaces them ---------------------------------------------------------


def test_wrong_client_secret_is_invalid_client(stack: Stack) -> None:
    with pytest.raises(Auth0Error) as err:
        get_token(stack, stack.bootstrap_client_id, "not-the-secret") \
            .client_credentials(audience=stack.management_audience)
    assert err.value.status_code == 401
    assert err.value.error_code == "invalid_client"


def test_unknown_user_is_not_found(stack: Stack, tenant: Tenant) -> None:
    users = management(stack, tenant.reader.token(stack)["access_token"]).users
    with pytest.raises(NotFoundError) as err:
        users.get(f"oidc|{CONNECTION}|nobody")
    assert err.value.status_code == 404
    assert isinstance(err.value.body, dict)
    assert err.value.body["errorCode"] == "inexistent_user"
    assert err.value.body["statusCode"] == 404


# --- 8. refresh-token rotation -------------------------------------------------------------------


def test_refresh_token_rotates_and_the_old_one_is_refused(stack: Stack, tenant: Tenant) -> None:
    # A login of its own, so rotating this family disturbs no other test.
    login = browser_login(stack, tenant)
    auth = get_token(stack, tenant.app_id, tenant.app_secret)
    first = auth.authorization_code(code=login.code, redirect_uri=stack.app_callback)
    old = first["refresh_token"]

    renewed = auth.refresh_token(old)  # the SDK sends scope="": keep the same scopes
    assert renewed["refresh_token"] and renewed["refresh_token"] != old
    assert renewed["token_type"] == "Bearer" and isinstance(renewed["expires_in"], int)
    assert set(renewed["scope"].split(" ")) == set(LOGIN_SCOPE.split(" "))
    claims = id_token_verifier(stack, tenant).verify(renewed["id_token"])
    assert claims["sub"] == USER_ID
    # The new access token still reaches /userinfo (openid survived the empty scope).
    assert Users(stack.domain, protocol="http").userinfo(renewed["access_token"])["sub"] \
        == USER_ID

    with pytest.raises(Auth0Error) as err:
        auth.refresh_token(old)
    assert err.value.error_code == "invalid_grant"
    assert err.value.status_code in (400, 403)
