"""Attack list B (security_tests.md §3): the broker as authorization server to its apps —
/authorize request validation and the authorization_code grant at /oauth/token.

Design decisions under test (documented in the brief): PKCE S256 is required for public
clients (token_endpoint_auth_method "none"); ``plain`` is refused for everyone; a
confidential client may omit PKCE (RFC 9700 §2.1.1), but a challenge it sends must be valid
S256. A challenge without a verifier is ``invalid_grant``. Codes are single-use; a replay
revokes the grant (its refresh tokens and access tokens stop working).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idbroker.encoding import s256
from tests.functional.security.conftest import (
    Apps, Clock, app_error_problem, assert_app_error, assert_error_page, assert_oauth_error,
    authorize_raw, basic, error_page_problem, is_upstream_redirect, minted, refresh,
    token_request, userinfo,
)
from tests.support import APP_CALLBACK, ISSUER, Broker, LoginResult, query_of

NOTHING = {"login_transactions": 0, "authorization_codes": 0, "grants": 0, "refresh_tokens": 0}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def base_pairs(client: dict[str, Any], *, pkce: bool = True, **extra: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client["client_id"],
              "redirect_uri": APP_CALLBACK, "scope": "openid profile email offline_access",
              "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
              "connection": "acme-oidc"}
    if pkce:
        params.update(code_challenge=pkce_pair()[1], code_challenge_method="S256")
    params.update(extra)
    return params


# --- B1: untrusted client or redirect URI → our own error page, never a redirect -----------

B1_CHANGES = [
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": None},
    {"client_id": None},
    {"client_id": "no-such-client-0123456789abcdef"},
    {"client_id": ""},
    {"client_id": "x" * 65},
]


async def test_b1_untrusted_target_gets_an_error_page(broker: Broker, apps: Apps) -> None:
    failures = []
    for change in B1_CHANGES:
        params = base_pairs(apps.spa)
        for key, value in change.items():
            if value is None:
                params.pop(key)
            else:
                params[key] = value
        problem = error_page_problem(await broker.start(params))
        if problem:
            failures.append((change, problem))
    assert failures == []
    assert await minted(broker) == NOTHING


async def test_b1_another_apps_redirect_uri_is_not_trusted(broker: Broker, apps: Apps) -> None:
    other = await broker.web_app(callbacks=["https://other.example.test/callback"])
    params = base_pairs(apps.spa, redirect_uri=other["callbacks"][0])
    assert_error_page(await broker.start(params))
    assert await minted(broker) == NOTHING


@pytest.mark.parametrize("key", ["client_id", "redirect_uri"])
async def test_b1_repeated_client_id_or_redirect_uri_gets_an_error_page(
        broker: Broker, apps: Apps, key: str) -> None:
    params = base_pairs(apps.spa)
    pairs = [*params.items(), (key, params[key])]
    assert_error_page(await authorize_raw(broker, pairs))
    assert await minted(broker) == NOTHING


# --- B2: exact string matching of redirect URIs ---------------------------------------------

REGISTERED_WITH_QUERY = "https://app.example.test/cb?tenant=acme"
NATIVE_CALLBACKS = ["http://localhost/callback", "http://127.0.0.1:8080/callback"]

LOOKALIKES = [
    "https://app.example.test.evil.example/callback",
    "https://app.example.test@evil.example/callback",
    "https://evil.example@app.example.test/callback",
    "https://app.example.test/callback/../evil",
    "https://app.example.test/callback/%2e%2e/evil",
    "https://app.example.test/callback%2f..%2fevil",
    "https://app.example.test/callback/%252e%252e/evil",
    "https://app.example.test/%63allback",
    "https://app.example.test/CALLBACK",
    "https://APP.EXAMPLE.TEST/callback",
    "HTTPS://app.example.test/callback",
    "https://app.example.test/callback/",
    "https://app.example.test//callback",
    "https://app.example.test/callbackx",
    "https://app.example.test/callbac",
    "https://app.example.test:443/callback",
    "https://app.example.test:8443/callback",
    "http://app.example.test/callback",
    "https://app.example.test/callback?",
    "https://app.example.test/callback?next=https://evil.example",
    "https://app.example.test/callback#",
    "https://app.example.test/callback#frag",
    "https://app.example.test/callback;jsessionid=1",
    "https://app.example.test\\@evil.example/callback",
    "https://app.example.test/callback\\..\\evil",
    "https:\\\\evil.example\\callback",
    "https://\u0430pp.example.test/callback",  # Cyrillic "а": an IDN homograph
    "https://xn--pp-7kc.example.test/callback",
    "javascript:alert(document.domain)//https://app.example.test/callback",
    "data:text/html,<script>alert(1)</script>",
    "https://app.example.test/callback ",
    " https://app.example.test/callback",
    "https://app.example.test/callback%20",
    "https://app.example.test/callback\t",
    "https://app.example.test/callback\x00",
    "//evil.example/callback",
    "/callback",
    "",
    # look-alikes of a registered URI that carries a query
    "https://app.example.test/cb",
    "https://app.example.test/cb?tenant=evil",
    "https://app.example.test/cb?tenant=acme&x=1",
    "https://app.example.test/cb?x=1&tenant=acme",
    "https://app.example.test/cb?TENANT=acme",
    "https://app.example.test/cb?tenant=%61cme",
    "https://app.example.test/cb?tenant=acme#x",
]

NATIVE_LOOKALIKES = [
    "http://localhost:80@evil.example/callback",
    "http://localhost@evil.example/callback",
    "http://localhost.evil.example/callback",
    "http://localhost:80/callback",
    "https://localhost/callback",
    "http://127.0.0.1:8080@evil.example/callback",
    "http://127.0.0.1.nip.io:8080/callback",
    "http://127.0.0.1:8080/callback/../../evil",
]


@pytest.fixture
async def multi(broker: Broker, apps: Apps) -> dict[str, Any]:
    """A public app with a plain and a query-carrying callback, enabled on the connection."""
    app = await broker.web_app(app_type="spa", callbacks=[APP_CALLBACK, REGISTERED_WITH_QUERY])
    connection = await broker.runtime.store.get_connection_by_name("acme-oidc")
    assert connection is not None
    response = await broker.mgmt("PATCH", f"connections/{connection.id}", json={
        "enabled_clients": [*connection.enabled_clients, app["client_id"]]})
    assert response.status_code == 200, response.text
    return app


async def test_b2_lookalike_redirect_uris_get_an_error_page(
        broker: Broker, multi: dict[str, Any]) -> None:
    failures = []
    for uri in LOOKALIKES:
        problem = error_page_problem(await broker.start(base_pairs(multi, redirect_uri=uri)))
        if problem:
            failures.append((uri, problem))
    assert failures == []
    assert await minted(broker) == NOTHING


async def test_b2_loopback_lookalikes_get_an_error_page(broker: Broker) -> None:
    native = await broker.web_app(app_type="native", callbacks=NATIVE_CALLBACKS)
    await broker.oidc_connection([native["client_id"]])
    failures = []
    for uri in NATIVE_LOOKALIKES:
        problem = error_page_problem(await broker.start(base_pairs(native, redirect_uri=uri)))
        if problem:
            failures.append((uri, problem))
    assert failures == []
    assert await minted(broker) == NOTHING
    # ...while the registered loopback URIs themselves work.
    for uri in NATIVE_CALLBACKS:
        assert is_upstream_redirect(await broker.start(base_pairs(native, redirect_uri=uri)),
                                    broker)


@pytest.mark.parametrize("uri", [APP_CALLBACK, REGISTERED_WITH_QUERY])
async def test_b2_registered_uri_with_identical_query_is_accepted(
        broker: Broker, multi: dict[str, Any], uri: str) -> None:
    params = base_pairs(multi, redirect_uri=uri)
    started = await broker.start(params)
    assert is_upstream_redirect(started, broker), started.text
    # The code comes back to exactly that URI, its own query kept, ours appended.
    answer = await broker.callback(await broker.through_upstream(started))
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(uri + ("&" if "?" in uri else "?")), location
    assert query_of(location)["state"] == params["state"]


def _lookalikes_of(base: str) -> st.SearchStrategy[str]:
    """Small edits of a registered URI: insert, delete, replace, flip case, add a prefix or
    a suffix. Whatever the edit, the result is not the registered string."""
    chars = st.characters(codec="utf-8")
    text = st.text(alphabet=chars, min_size=1, max_size=12)
    at = st.integers(0, len(base) - 1)
    edits = st.one_of(
        st.tuples(st.integers(0, len(base)), text).map(lambda t: base[:t[0]] + t[1] + base[t[0]:]),
        at.map(lambda i: base[:i] + base[i + 1:]),
        st.tuples(at, chars).map(lambda t: base[:t[0]] + t[1] + base[t[0] + 1:]),
        at.map(lambda i: base[:i] + base[i].swapcase() + base[i + 1:]),
        text.map(lambda s: base + s),
        text.map(lambda s: s + base),
    )
    return edits.filter(lambda uri: uri != base)


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uri=_lookalikes_of(APP_CALLBACK))
async def test_b2_property_any_edit_of_the_registered_uri_is_refused(
        broker: Broker, apps: Apps, uri: str) -> None:
    response = await broker.start(base_pairs(apps.spa, redirect_uri=uri))
    assert_error_page(response)
    assert await minted(broker) == NOTHING


# --- B3: errors after the target is trusted go back to the app with state and iss -----------

UNSUPPORTED_RESPONSE_TYPES = ["token", "id_token", "id_token token", "code id_token",
                              "code token", "none", "CODE", "code ", "device_code"]


async def test_b3_unsupported_response_type_is_redirected(broker: Broker, apps: Apps) -> None:
    failures = []
    for response_type in UNSUPPORTED_RESPONSE_TYPES:
        params = base_pairs(apps.spa, response_type=response_type)
        problem = app_error_problem(await broker.start(params), "unsupported_response_type",
                                    params["state"])
        if problem:
            failures.append((response_type, problem))
    assert failures == []
    assert await minted(broker) == NOTHING


async def test_b3_missing_response_type_is_invalid_request(broker: Broker, apps: Apps) -> None:
    params = base_pairs(apps.spa)
    del params["response_type"]
    assert_app_error(await broker.start(params), "invalid_request", params["state"])


MALFORMED_SCOPES = ['openid "quoted"', "openid back\\slash", "openid caf\u00e9", "openid \x7f",
                    " ".join(f"s{i}" for i in range(101))]


async def test_b3_malformed_scope_is_redirected_as_invalid_scope(broker: Broker,
                                                                 apps: Apps) -> None:
    failures = []
    for scope in MALFORMED_SCOPES:
        params = base_pairs(apps.spa, scope=scope)
        problem = app_error_problem(await broker.start(params), "invalid_scope", params["state"])
        if problem:
            failures.append((scope[:40], problem))
    assert failures == []
    assert await minted(broker) == NOTHING


async def test_b3_error_without_state_carries_no_state(broker: Broker, apps: Apps) -> None:
    params = base_pairs(apps.spa, response_type="token")
    del params["state"]
    assert_app_error(await broker.start(params), "unsupported_response_type", None)


async def test_b3_a_person_cannot_grant_their_app_management_api_scopes(
        broker: Broker, apps: Apps) -> None:
    """ASVS 10.4.11 / 8.2.3: scopes of the Management API come only from client grants; a
    login (even with the Management API audience) must not carry them."""
    login = await broker.login(
        apps.spa, scope="openid profile read:users read:user_idp_tokens delete:users",
        audience=f"{ISSUER}api/v2/")
    tokens = await broker.exchange(apps.spa, login)
    assert tokens.status_code == 200, tokens.text
    granted = tokens.json()["scope"].split()
    assert not {"read:users", "read:user_idp_tokens", "delete:users"} & set(granted)
    answer = await broker.mgmt("GET", "users/oidc%7Cacme-oidc%7Calice",
                               token=tokens.json()["access_token"])
    assert answer.status_code == 403, answer.text
    assert "access_token" not in answer.text


# --- B4/B5: PKCE at /authorize ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["spa", "native", "web-with-no-secret"])
async def test_b4_public_client_without_code_challenge_is_refused(
        broker: Broker, apps: Apps, kind: str) -> None:
    client = {"spa": apps.spa, "native": apps.native}.get(kind) or await broker.web_app(
        token_endpoint_auth_method="none")
    params = base_pairs(client, pkce=False)
    assert_app_error(await broker.start(params), "invalid_request", params["state"])
    assert await minted(broker) == NOTHING
    assert broker.upstream.calls["authorize"] == 0


async def test_b4_confidential_client_may_omit_pkce(broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.web, pkce=False)
    tokens = await broker.exchange(apps.web, login)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["access_token"]


_CHALLENGE = s256("v" * 43)
BAD_PKCE = [
    {"code_challenge_method": "plain", "code_challenge": "v" * 43},
    {"code_challenge_method": "plain", "code_challenge": _CHALLENGE},
    {"code_challenge": _CHALLENGE},                                   # method missing
    {"code_challenge_method": "s256", "code_challenge": _CHALLENGE},
    {"code_challenge_method": "S512", "code_challenge": _CHALLENGE},
    {"code_challenge_method": "", "code_challenge": _CHALLENGE},
    {"code_challenge_method": "S256"},                                # challenge missing
    {"code_challenge_method": "S256", "code_challenge": ""},
    {"code_challenge_method": "S256", "code_challenge": _CHALLENGE[:42]},
    {"code_challenge_method": "S256", "code_challenge": _CHALLENGE + "A"},
    {"code_challenge_method": "S256", "code_challenge": _CHALLENGE[:42] + "="},
    {"code_challenge_method": "S256", "code_challenge": _CHALLENGE[:42] + "+"},
    {"code_challenge_method": "S256", "code_challenge": _CHALLENGE[:42] + "/"},
    {"code_challenge_method": "S256", "code_challenge": "v" * 128},  # a verifier, not a hash
    {"code_challenge_method": "S256", "code_challenge": _CHALLENGE + "\n"},
]


@pytest.mark.parametrize("kind", ["spa", "web"])
async def test_b5_bad_pkce_parameters_are_invalid_request(broker: Broker, apps: Apps,
                                                          kind: str) -> None:
    client = getattr(apps, kind)
    failures = []
    for pkce in BAD_PKCE:
        params = {**base_pairs(client, pkce=False), **pkce}
        problem = app_error_problem(await broker.start(params), "invalid_request",
                                    params["state"])
        if problem:
            failures.append((pkce, problem))
    assert failures == []
    assert await minted(broker) == NOTHING


async def test_b5_repeated_parameters_are_invalid_request(broker: Broker, apps: Apps) -> None:
    failures = []
    for key in ("code_challenge", "code_challenge_method", "state", "response_type", "scope",
                "nonce", "connection"):
        params = base_pairs(apps.spa)
        value = pkce_pair()[1] if key == "code_challenge" else params[key]
        response = await authorize_raw(broker, [*params.items(), (key, value)])
        problem = app_error_problem(response, "invalid_request", params["state"])
        if problem:
            failures.append((key, problem))
    assert failures == []
    assert await minted(broker) == NOTHING


# --- B6–B8: PKCE at the token endpoint ------------------------------------------------------


BAD_VERIFIERS = [
    ("wrong", lambda: secrets.token_urlsafe(48), "invalid_grant"),
    ("42 chars", lambda: "a" * 42, "invalid_request"),
    ("129 chars", lambda: "a" * 129, "invalid_request"),
    ("reserved char", lambda: "a" * 42 + "+", "invalid_request"),
    ("non-ASCII", lambda: "a" * 42 + "\u00e9", "invalid_request"),
    ("trailing newline", lambda: "a" * 43 + "\n", "invalid_request"),
]


@pytest.mark.parametrize("kind", ["spa", "web"])
async def test_b6_bad_verifier_is_refused_and_burns_the_code(broker: Broker, apps: Apps,
                                                             kind: str) -> None:
    client = getattr(apps, kind)
    for name, verifier, error in BAD_VERIFIERS:
        login = await broker.login(client)
        first = await broker.exchange(client, login, code_verifier=verifier())
        assert (first.status_code, first.json().get("error")) == (400, error), name
        # The failed attempt consumed the code: no online guessing of the verifier.
        retry = await broker.exchange(client, login)
        assert (retry.status_code, retry.json().get("error")) == (400, "invalid_grant"), name
    assert await _refresh_tokens(broker) == 0


@pytest.mark.parametrize("kind", ["spa", "web"])
async def test_b7_challenge_sent_but_verifier_omitted(broker: Broker, apps: Apps,
                                                      kind: str) -> None:
    client = getattr(apps, kind)
    login = await broker.login(client)
    assert_oauth_error(await broker.exchange(client, login, code_verifier=None), "invalid_grant")
    assert_oauth_error(await broker.exchange(client, login), "invalid_grant")
    assert await _refresh_tokens(broker) == 0


async def test_b8_verifier_for_a_code_issued_without_challenge_is_a_downgrade(
        broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.web, pkce=False)
    verifier = secrets.token_urlsafe(48)
    assert_oauth_error(await broker.exchange(apps.web, login, code_verifier=verifier),
                       "invalid_grant")
    assert_oauth_error(await broker.exchange(apps.web, login), "invalid_grant")
    assert await _refresh_tokens(broker) == 0


async def _refresh_tokens(broker: Broker) -> int:
    return (await minted(broker))["refresh_tokens"]


# --- B9/B10: single-use codes; a replay revokes the grant ----------------------------------


async def _assert_revoked(broker: Broker, client: dict[str, Any], body: dict[str, Any]) -> None:
    answer = await userinfo(broker, body["access_token"])
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer ")
    assert_oauth_error(await refresh(broker, client, body["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize("delay_s", [0, 30])
@pytest.mark.parametrize("kind", ["spa", "web"])
async def test_b9_code_replay_is_refused_and_revokes_the_grant(
        broker: Broker, apps: Apps, clock: Clock, kind: str, delay_s: int) -> None:
    client = getattr(apps, kind)
    login = await broker.login(client)
    first = await broker.exchange(client, login)
    assert first.status_code == 200, first.text
    issued = first.json()
    assert (await userinfo(broker, issued["access_token"])).status_code == 200

    clock.advance(delay_s)
    assert_oauth_error(await broker.exchange(client, login), "invalid_grant")
    await _assert_revoked(broker, client, issued)


async def test_b9_replay_also_revokes_tokens_rotated_from_the_code(
        broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.spa)
    first = (await broker.exchange(apps.spa, login)).json()
    rotated = await refresh(broker, apps.spa, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text

    assert_oauth_error(await broker.exchange(apps.spa, login), "invalid_grant")
    await _assert_revoked(broker, apps.spa, rotated.json())


async def test_b10_concurrent_redemptions_yield_exactly_one_token_response(
        broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.spa)
    answers = await asyncio.gather(*(broker.exchange(apps.spa, login) for _ in range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [400] * 19, [(a.status_code, a.text) for a in answers]
    for answer in answers:
        if answer.status_code == 400:
            assert answer.json()["error"] == "invalid_grant"
    (winner,) = [a.json() for a in answers if a.status_code == 200]
    # The losers are replays: the winner's tokens are revoked too.
    await _assert_revoked(broker, apps.spa, winner)


# --- B11: expired codes --------------------------------------------------------------------


async def test_b11_code_lifetime_is_short(broker: Broker) -> None:
    assert 0 < broker.runtime.settings.authorization_code_ttl <= 60


@pytest.mark.parametrize(("age", "ok"), [(-2, True), (1, False), (3600, False)])
async def test_b11_expired_code_is_invalid_grant(broker: Broker, apps: Apps, clock: Clock,
                                                 age: int, ok: bool) -> None:
    login = await broker.login(apps.spa)
    clock.advance(broker.runtime.settings.authorization_code_ttl + age)
    answer = await broker.exchange(apps.spa, login)
    if ok:
        assert answer.status_code == 200, answer.text
    else:
        assert_oauth_error(answer, "invalid_grant")
        assert await _refresh_tokens(broker) == 0


# --- B12: a code is bound to its client and redirect URI ------------------------------------


async def test_b12_code_redeemed_by_another_confidential_client(broker: Broker,
                                                                apps: Apps) -> None:
    other = await broker.web_app()
    login = await broker.login(apps.web)
    assert_oauth_error(await broker.exchange(other, login), "invalid_grant")
    # The attempt burnt the code: the rightful client cannot use it afterwards either.
    assert_oauth_error(await broker.exchange(apps.web, login), "invalid_grant")
    assert await _refresh_tokens(broker) == 0


async def test_b12_code_redeemed_by_another_public_client(broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.spa)
    assert_oauth_error(await broker.exchange(apps.native, login), "invalid_grant")
    assert await _refresh_tokens(broker) == 0


@pytest.mark.parametrize("redirect_uri", [
    pytest.param("https://app.example.test/other", id="other-registered"),
    pytest.param(APP_CALLBACK + "/", id="trailing-slash"),
    pytest.param("https://evil.example/callback", id="foreign"),
    pytest.param(None, id="omitted"),
])
async def test_b12_redirect_uri_must_equal_the_authorization_request(
        broker: Broker, redirect_uri: str | None) -> None:
    client = await broker.web_app(app_type="spa",
                                  callbacks=[APP_CALLBACK, "https://app.example.test/other"])
    await broker.oidc_connection([client["client_id"]])
    login = await broker.login(client)
    assert_oauth_error(await broker.exchange(client, login, redirect_uri=redirect_uri),
                       "invalid_grant")
    assert await _refresh_tokens(broker) == 0


# --- B13: client authentication --------------------------------------------------------------


def _code_body(login: LoginResult) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": login.params["code"],
            "redirect_uri": APP_CALLBACK}


async def test_b13_client_authentication_failures(broker: Broker, apps: Apps) -> None:
    web = apps.web
    login = await broker.login(web, pkce=False)
    body = _code_body(login)
    wrong = secrets.token_urlsafe(48)
    unknown = "u" * 32

    post_wrong = await token_request(broker, {**body, "client_id": web["client_id"],
                                              "client_secret": wrong})
    post_missing = await token_request(broker, {**body, "client_id": web["client_id"]})
    post_unknown = await token_request(broker, {**body, "client_id": unknown,
                                                "client_secret": wrong})
    basic_wrong = await token_request(broker, body, {
        "Authorization": basic(web["client_id"], wrong)})
    basic_unknown = await token_request(broker, body, {
        "Authorization": basic(unknown, wrong)})
    basic_garbled = await token_request(broker, body, {"Authorization": "Basic %%%not-base64"})
    basic_no_colon = await token_request(broker, body, {
        "Authorization": "Basic " + "bm8tY29sb24="})  # "no-colon"

    for answer in (post_wrong, post_missing, post_unknown):
        assert_oauth_error(answer, "invalid_client", 401)
    for answer in (basic_wrong, basic_unknown, basic_garbled, basic_no_colon):
        assert_oauth_error(answer, "invalid_client", 401)
        assert answer.headers["www-authenticate"].lower().startswith("basic")
    # Unknown client and wrong secret are indistinguishable.
    assert post_unknown.json() == post_wrong.json()
    assert basic_unknown.json() == basic_wrong.json()
    assert dict(basic_unknown.headers).get("www-authenticate") == \
        dict(basic_wrong.headers).get("www-authenticate")

    # Client authentication comes before the code is looked at: failed attempts by someone
    # who does not hold the secret cannot burn the rightful client's code.
    good = await token_request(broker, body, {"Authorization": basic(web["client_id"],
                                                                     web["client_secret"])})
    assert good.status_code == 200, good.text


async def test_b13_secret_for_a_public_client_is_refused(broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.spa)
    answer = await broker.exchange(apps.spa, login, client_secret=secrets.token_urlsafe(32))
    assert_oauth_error(answer, "invalid_client", 401)
    # The code was not touched by the failed authentication.
    assert (await broker.exchange(apps.spa, login)).status_code == 200


async def test_b13_public_client_cannot_impersonate_a_confidential_one(
        broker: Broker, apps: Apps) -> None:
    """Leaving out the secret does not turn a confidential client into a public one."""
    login = await broker.login(apps.web)
    answer = await broker.exchange(apps.web, login, client_secret=None)
    assert_oauth_error(answer, "invalid_client", 401)

