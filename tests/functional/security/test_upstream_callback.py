"""Attack list C (security_tests.md §3): the broker as relying party to an upstream OIDC
provider — the callback at {issuer}login/callback.

Every failure must be closed: no upstream token request when the callback itself is not
trusted (C1, C3), no userinfo request after a bad ID token (C4, C5), and no user row, no
authorization code for the app.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import pytest

from idbroker.encoding import s256
from tests.functional.security.conftest import (
    ALICE, Apps, Clock, app_error_problem, assert_app_error, assert_error_page, minted,
)
from tests.support import ISSUER, Broker, query_of

NO_CODES = {"authorization_codes": 0, "grants": 0, "refresh_tokens": 0}


def with_query(url: str, change: dict[str, str | None]) -> str:
    """``url`` with some query parameters replaced (a None value removes the parameter)."""
    parts = urlsplit(url)
    query = {**query_of(url), **change}
    kept = {k: v for k, v in query.items() if v is not None}
    return urlunsplit(parts._replace(query=urlencode(kept)))


async def to_upstream(broker: Broker, client: dict[str, Any],
                      **extra: str) -> tuple[dict[str, str], httpx.Response]:
    """Start a login at the broker; return the app's parameters and the broker's redirect."""
    params, _, _ = broker.authorize_params(client, **extra)
    started = await broker.start(params)
    assert started.status_code == 302, started.text
    return params, started


async def at_upstream(broker: Broker, url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=broker.upstream.transport()) as idp:
        return await idp.get(url)


async def upstream_answer(broker: Broker, client: dict[str, Any],
                          **extra: str) -> tuple[dict[str, str], str]:
    """Run the trip to the upstream; return the app's parameters and the callback URL the
    upstream sends the browser to (not yet followed)."""
    params, started = await to_upstream(broker, client, **extra)
    answer = await broker.through_upstream(started)
    assert answer.status_code in (302, 303), answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{ISSUER}login/callback?"), location
    return params, location


async def nothing_persisted(broker: Broker) -> None:
    assert await broker.runtime.store.get_user(ALICE) is None
    counts = await minted(broker)
    assert {k: counts[k] for k in NO_CODES} == NO_CODES


def set_binding_cookie(broker: Broker, name: str, value: str) -> None:
    broker.http.cookies.clear()
    broker.http.cookies.set(name, value, domain="idbroker.example.test", path="/login/callback")


def binding_cookie_name(callback_url: str) -> str:
    return f"idb_tx_{query_of(callback_url)['state'][:12]}"


# --- C1: the callback must belong to a live transaction started in this browser -------------


async def _assert_refused_without_upstream_call(broker: Broker, response: httpx.Response) -> None:
    assert_error_page(response)
    assert broker.upstream.calls["token"] == 0
    assert broker.upstream.calls["userinfo"] == 0
    await nothing_persisted(broker)


@pytest.mark.parametrize("change", [
    pytest.param({"state": None}, id="missing"),
    pytest.param({"state": ""}, id="empty"),
    pytest.param({"state": "unknown-" + "A" * 40}, id="unknown"),
    pytest.param({"state": "x" * 300}, id="overlong"),
])
async def test_c1_missing_or_unknown_state(broker: Broker, apps: Apps,
                                           change: dict[str, str | None]) -> None:
    _, location = await upstream_answer(broker, apps.spa)
    await _assert_refused_without_upstream_call(
        broker, await broker.http.get(with_query(location, change)))


async def test_c1_state_sharing_the_cookie_prefix_is_still_unknown(broker: Broker,
                                                                   apps: Apps) -> None:
    """The binding cookie is named after the first 12 characters of the state; a forged
    state with the same prefix (so the browser's cookie is sent) is still refused."""
    _, location = await upstream_answer(broker, apps.spa)
    state = query_of(location)["state"]
    forged = state[:12] + secrets.token_urlsafe(32)
    await _assert_refused_without_upstream_call(
        broker, await broker.http.get(with_query(location, {"state": forged})))


async def test_c1_expired_state(broker: Broker, apps: Apps, clock: Clock) -> None:
    _, location = await upstream_answer(broker, apps.spa)
    ttl = broker.runtime.settings.login_transaction_ttl
    assert ttl <= 600
    clock.advance(ttl + 1)
    await _assert_refused_without_upstream_call(broker, await broker.http.get(location))


async def test_c1_state_already_used(broker: Broker, apps: Apps) -> None:
    _, location = await upstream_answer(broker, apps.spa)
    cookie = broker.http.cookies.get(binding_cookie_name(location))
    assert cookie
    first = await broker.http.get(location)
    assert first.status_code == 302 and query_of(first.headers["location"])["code"]
    before = await minted(broker)
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None and user.logins_count == 1

    # The browser (or an attacker holding the URL and the cookie) replays the callback.
    set_binding_cookie(broker, binding_cookie_name(location), cookie)
    replay = await broker.http.get(location)
    assert_error_page(replay)
    assert broker.upstream.calls["token"] == 1
    assert await minted(broker) == before
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None and user.logins_count == 1


@pytest.mark.parametrize("cookie", ["missing", "different"])
async def test_c1_callback_from_another_browser(broker: Broker, apps: Apps, cookie: str) -> None:
    _, location = await upstream_answer(broker, apps.spa)
    if cookie == "missing":
        broker.http.cookies.clear()
    else:
        set_binding_cookie(broker, binding_cookie_name(location), secrets.token_urlsafe(24))
    await _assert_refused_without_upstream_call(broker, await broker.http.get(location))


async def test_c1_login_csrf_with_the_attackers_callback_url(broker: Broker, apps: Apps) -> None:
    """The attacker runs a login of their own, stops before the callback and sends the URL to
    the victim, whose browser is in the middle of its own login."""
    _, attackers_url = await upstream_answer(broker, apps.spa)
    broker.http.cookies.clear()  # the victim's browser
    victim_params, victims_url = await upstream_answer(broker, apps.spa)

    await _assert_refused_without_upstream_call(broker, await broker.http.get(attackers_url))

    # The victim's own login is unaffected.
    answer = await broker.http.get(victims_url)
    assert answer.status_code == 302, answer.text
    assert query_of(answer.headers["location"])["state"] == victim_params["state"]
    assert broker.upstream.calls["token"] == 1


# --- C2: the upstream round trip keeps our own nonce and PKCE verifier ----------------------


async def _assert_login_failed(broker: Broker, response: httpx.Response, state: str,
                               error: str = "access_denied", *, token_calls: int) -> None:
    assert_app_error(response, error, state)
    assert broker.upstream.calls["token"] == token_calls
    assert broker.upstream.calls["userinfo"] == 0
    await nothing_persisted(broker)


async def test_c2_nonce_stripped_from_our_authorization_url(broker: Broker, apps: Apps) -> None:
    params, started = await to_upstream(broker, apps.spa)
    tampered = with_query(started.headers["location"], {"nonce": None})
    answer = await at_upstream(broker, tampered)
    response = await broker.callback(answer)
    await _assert_login_failed(broker, response, params["state"], token_calls=1)


async def test_c2_code_challenge_replaced_by_the_attackers(broker: Broker, apps: Apps) -> None:
    """The upstream binds the code to the attacker's challenge; our callback still sends the
    verifier we stored, so the upstream refuses the code and the login fails."""
    params, started = await to_upstream(broker, apps.spa)
    attacker_verifier = secrets.token_urlsafe(48)
    tampered = with_query(started.headers["location"], {
        "code_challenge": s256(attacker_verifier), "code_challenge_method": "S256"})
    response = await broker.callback(await at_upstream(broker, tampered))
    await _assert_login_failed(broker, response, params["state"], token_calls=1)


async def test_c2_code_challenge_stripped(broker: Broker, apps: Apps) -> None:
    params, started = await to_upstream(broker, apps.spa)
    tampered = with_query(started.headers["location"], {
        "code_challenge": None, "code_challenge_method": None})
    response = await broker.callback(await at_upstream(broker, tampered))
    await _assert_login_failed(broker, response, params["state"], token_calls=0)


async def test_c2_upstream_id_token_without_nonce(broker: Broker, apps: Apps) -> None:
    broker.upstream.hooks.id_token_claims = {"nonce": None}
    params, location = await upstream_answer(broker, apps.spa)
    response = await broker.http.get(location)
    await _assert_login_failed(broker, response, params["state"], token_calls=1)


async def test_c2_our_outbound_request_carries_state_nonce_and_s256(broker: Broker,
                                                                    apps: Apps) -> None:
    params, started = await to_upstream(broker, apps.spa)
    outbound = query_of(started.headers["location"])
    assert outbound["code_challenge_method"] == "S256"
    assert len(outbound["code_challenge"]) == 43
    assert len(outbound["nonce"]) >= 22 and len(outbound["state"]) >= 22
    # Our state and nonce upstream are our own, never the app's values.
    assert outbound["state"] != params["state"] and outbound["nonce"] != params["nonce"]
    assert params["code_challenge"] != outbound["code_challenge"]


# --- C3: mix-up defence with the authorization response's iss (RFC 9207) --------------------


@pytest.mark.parametrize("iss", [
    pytest.param("https://evil.example.test", id="other-issuer"),
    pytest.param("https://idp.example.test/", id="trailing-slash"),
    pytest.param("https://idp.example.test.evil", id="suffix"),
    pytest.param("http://idp.example.test", id="http"),
    pytest.param("", id="missing-though-advertised"),
])
async def test_c3_authorization_response_iss_must_be_the_upstreams(
        broker: Broker, apps: Apps, iss: str) -> None:
    assert (await _discovery(broker))["authorization_response_iss_parameter_supported"] is True
    broker.upstream.hooks.authorize_iss = iss
    params, location = await upstream_answer(broker, apps.spa)
    assert query_of(location).get("iss") == (iss or None)
    response = await broker.http.get(location)
    await _assert_login_failed(broker, response, params["state"], token_calls=0)


async def test_c3_iss_added_by_an_attacker_is_not_trusted(broker: Broker, apps: Apps) -> None:
    """A response without iss from the upstream, with an attacker's value spliced in."""
    params, location = await upstream_answer(broker, apps.spa)
    response = await broker.http.get(with_query(location, {"iss": "https://evil.example.test"}))
    await _assert_login_failed(broker, response, params["state"], token_calls=0)


async def _discovery(broker: Broker) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=broker.upstream.transport()) as idp:
        return (await idp.get(broker.upstream.discovery_url)).json()


# --- C4: ID-token validation (OIDC Core §3.1.3.7) -------------------------------------------


def id_token_defects() -> list[tuple[str, dict[str, Any]]]:
    now = int(time.time())
    issuer, client_id = "https://idp.example.test", "upstream-client"
    claims: list[tuple[str, dict[str, Any]]] = [
        ("iss other", {"iss": "https://evil.example.test"}),
        ("iss trailing slash", {"iss": issuer + "/"}),
        ("iss suffix", {"iss": issuer + ".evil"}),
        ("iss prefix", {"iss": issuer[:-1]}),
        ("iss array", {"iss": [issuer]}),
        ("iss missing", {"iss": None}),
        ("aud other", {"aud": "another-client"}),
        ("aud missing", {"aud": None}),
        ("aud list without us", {"aud": ["another-client"]}),
        ("aud substring", {"aud": client_id + "-x"}),
        ("multi aud without azp", {"aud": [client_id, "another-client"]}),
        ("azp other", {"azp": "another-client"}),
        ("sub missing", {"sub": None}),
        ("sub empty", {"sub": ""}),
        ("sub number", {"sub": 12345}),
        ("iat missing", {"iat": None}),
        ("iat in the future", {"iat": now + 3600}),
        ("exp missing", {"exp": None}),
        ("expired", {"exp": now - 3600}),
        ("exp as string", {"exp": str(now + 3600)}),
        ("nonce other", {"nonce": "not-the-nonce-we-sent"}),
    ]
    defects = [(name, {"id_token_claims": c}) for name, c in claims]
    defects += [
        ("RS256 signed by a foreign key", {"sign_with_foreign_key": True}),
        ("HS256 with the client secret", {"id_token_alg": "HS256"}),
        ("alg none", {"id_token_alg": "none"}),
        ("unknown kid", {"id_token_kid": "not-a-key-of-the-upstream"}),
    ]
    return defects


async def test_c4_every_id_token_defect_fails_the_login(broker: Broker, apps: Apps) -> None:
    failures = []
    for name, hooks in id_token_defects():
        broker.upstream.reset_hooks()
        for key, value in hooks.items():
            setattr(broker.upstream.hooks, key, value)
        token_calls = broker.upstream.calls["token"]
        params, location = await upstream_answer(broker, apps.spa)
        response = await broker.http.get(location)
        problem = app_error_problem(response, "access_denied", params["state"])
        if problem:
            failures.append((name, problem))
        if broker.upstream.calls["token"] != token_calls + 1:
            failures.append((name, "token endpoint not called exactly once"))
        if broker.upstream.calls["userinfo"]:
            failures.append((name, "userinfo called after a bad ID token"))
        if await broker.runtime.store.get_user(ALICE) is not None:
            failures.append((name, "user stored"))
    assert failures == []
    await nothing_persisted(broker)

    # Control: the same flow with a sound ID token succeeds.
    broker.upstream.reset_hooks()
    login = await broker.login(apps.spa)
    assert login.params["code"]
    assert await broker.runtime.store.get_user(ALICE) is not None


# --- C5: nonce ------------------------------------------------------------------------------


async def test_c5_nonce_mismatch(broker: Broker, apps: Apps) -> None:
    broker.upstream.hooks.id_token_claims = {"nonce": secrets.token_urlsafe(24)}
    params, location = await upstream_answer(broker, apps.spa)
    response = await broker.http.get(location)
    await _assert_login_failed(broker, response, params["state"], token_calls=1)


async def test_c5_id_token_replayed_into_a_second_flow(broker: Broker, apps: Apps) -> None:
    await broker.login(apps.spa)
    first_tokens = broker.upstream.issued[-1]
    userinfo_calls = broker.upstream.calls["userinfo"]
    before = await minted(broker)

    # The upstream (or a network attacker) answers the second flow with the first flow's
    # token response: a validly signed ID token, but for the first flow's nonce.
    broker.upstream.hooks.token_status = 200
    broker.upstream.hooks.token_body = json.dumps(first_tokens)
    params, location = await upstream_answer(broker, apps.spa)
    response = await broker.http.get(location)
    assert_app_error(response, "access_denied", params["state"])
    assert broker.upstream.calls["userinfo"] == userinfo_calls
    assert await minted(broker) == before
    user = await broker.runtime.store.get_user(ALICE)
    assert user is not None and user.logins_count == 1
