"""Management API authorization, the broker as resource server: security_tests.md §3 rows
A1–A16, A19, A21, A22 and A23 (one parametrised table or test per row, ids = the attack).

Every request goes through the ASGI app. Attack tokens are built by hand (``jwt_forgery``):
validly signed with the broker's own key but wrong in exactly one respect, or not signed by
it at all. A *control* token built the same way is accepted (test_forged_control_token_is_
accepted), so every rejection below is caused by the one thing that was changed.

Every refusal is checked the same way (``Scenario.assert_invalid_token`` /
``assert_no_credentials`` / ``assert_insufficient_scope``, all ending in ``assert_clean``):
status, RFC 6750 §3.1 ``WWW-Authenticate`` shape, Auth0 error body, ``Cache-Control:
no-store``, no stack trace, no canary (the upstream tokens stored for the seeded user, in
raw/base64/hex form) and not the presented credential in any body, header or broker log
record, and zero outbound HTTP from the broker.

The module shares one broker (``world``), built exactly like tests/conftest.py's ``broker``
fixture: a broker's set-up is dominated by RSA key generation (~1 s) and the ~230 cases here
each send one GET. Tests that change state only add to it (a client, a second signing key,
another person) and never touch Alice or her stored upstream tokens.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from idbroker.http.app import create_app
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from tests.conftest import PG_URL, _reset_postgres
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.routing_transport import RoutingTransport
from tests.functional.security import jwt_forgery as jf
from tests.support import ISSUER, Broker

# Every test shares the module's broker (see World), so every test runs on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

MGMT_AUD = f"{ISSUER}api/v2/"
USER_ID = "oidc|acme-oidc|alice"
TOKEN_KEYS = ("access_token", "refresh_token", "access_token_secret", "id_token", "expires_in")
INVALID_TOKEN_BODY = {"statusCode": 401, "error": "Unauthorized", "message": "Invalid token",
                      "attributes": {"error": "Invalid token"}}
NO_CREDENTIALS_BODY = {"statusCode": 401, "error": "Unauthorized",
                       "message": "Missing authentication",
                       "attributes": {"error": "Missing authentication"}}
INSUFFICIENT_SCOPE_BODY = {"statusCode": 403, "error": "Forbidden",
                           "message": "Insufficient scope, expected any of: read:users",
                           "errorCode": "insufficient_scope"}
QUERY_TOKEN_BODY = {"statusCode": 400, "error": "Bad Request",
                    "message": "Tokens must be sent in the Authorization header",
                    "errorCode": "invalid_request"}
STACK_TRACE_MARKERS = ("Traceback", 'File "', "line ", ".py", "sqlalchemy", "SELECT ")
KEY_MARKERS = ("PRIVATE KEY", "BEGIN ", '"d":', '"p":', '"q":')

MISSING: Any = object()  # a claim / header parameter to leave out


@functools.cache
def attacker_key() -> rsa.RSAPrivateKey:
    return jf.generate_attacker_key()


# --- RFC 6750 §3.1 challenge parsing ------------------------------------------------------

_AUTH_PARAM = re.compile(r'\s*([A-Za-z_]+)="([^"\\]*)"\s*(?:,|$)')


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x", error="y"`` → ("Bearer", {...}); fails on anything else."""
    scheme, _, rest = value.partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _AUTH_PARAM.match(rest, position)
        assert match is not None, f"malformed WWW-Authenticate: {value!r}"
        assert match.group(1) not in params, f"duplicate auth-param: {value!r}"
        params[match.group(1)] = match.group(2)
        position = match.end()
    return scheme, params


# --- the scenario: one person signed in through an upstream, holding upstream tokens ------


@dataclass
class Scenario:
    broker: Broker
    caplog: pytest.LogCaptureFixture
    app: dict[str, Any]
    app_tokens: dict[str, Any]
    upstream_tokens: dict[str, Any]
    canaries: list[str]
    signer: rsa.RSAPrivateKey
    kid: str
    jwks: dict[str, Any]
    outbound: list[httpx.Request]

    # token building ----------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "attacker-m2m@clients", "aud": MGMT_AUD, "iat": now,
                  "exp": now + 600, "scope": "read:users read:user_idp_tokens",
                  "azp": "attacker-m2m", "jti": secrets.token_urlsafe(8),
                  "gty": "client-credentials"}
        return _apply(claims, overrides)

    def header(self, **overrides: Any) -> dict[str, Any]:
        return _apply({"alg": "RS256", "typ": "at+jwt", "kid": self.kid}, overrides)

    def forge(self, header: dict[str, Any] | None = None, claims: Any = None, *,
              key: rsa.RSAPrivateKey | None = None, hash_alg: hashes.HashAlgorithm | None = None,
              pss: bool = False) -> str:
        """RS256 (by default) with the broker's real signing key."""
        return jf.rsa_sign(key or self.signer, self.header() if header is None else header,
                           self.claims() if claims is None else claims, hash_alg, pss)

    def valid(self) -> str:
        return self.forge()

    # requests ----------------------------------------------------------------------------

    async def get(self, authorization: str | None = None, *, headers: Any = None,
                  params: dict[str, str] | None = None) -> httpx.Response:
        if headers is None:
            headers = {} if authorization is None else {"Authorization": authorization}
        return await self.broker.http.get(f"/api/v2/users/{quote(USER_ID, safe='')}",
                                          headers=headers, params=params)

    async def bearer(self, token: str, **params: str) -> httpx.Response:
        return await self.get(f"Bearer {token}", params=params or None)

    # assertions --------------------------------------------------------------------------

    def broker_log(self) -> str:
        return "\n".join(r.getMessage() for r in self.caplog.records
                         if r.name.startswith("idbroker"))

    def assert_clean(self, response: httpx.Response, presented: str | None = None) -> None:
        """A22: nothing leaked, no stack trace, not cached, no outbound HTTP."""
        exposed = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in
                                                   response.headers.multi_items())
        logged = self.broker_log()
        for canary in self.canaries:
            assert canary not in exposed, "upstream token leaked into the response"
            assert canary not in logged, "upstream token leaked into the broker log"
        if presented and len(presented) >= 16:
            assert presented not in exposed, "presented credential reflected in the response"
            assert presented not in logged, "presented credential written to the broker log"
        assert response.headers.get("cache-control") == "no-store"
        if response.status_code >= 400:
            for marker in STACK_TRACE_MARKERS + KEY_MARKERS:
                assert marker not in response.text, f"{marker!r} in an error body"
        assert self.outbound == [], f"outbound HTTP: {[str(r.url) for r in self.outbound]}"

    def assert_invalid_token(self, response: httpx.Response, presented: str | None) -> None:
        assert response.status_code == 401, response.text
        scheme, params = parse_challenge(response.headers["www-authenticate"])
        assert scheme == "Bearer" and set(params) == {"realm", "error"}
        assert params["error"] == "invalid_token"
        assert response.json() == INVALID_TOKEN_BODY
        self.assert_clean(response, presented)

    def assert_no_credentials(self, response: httpx.Response, presented: str | None) -> None:
        assert response.status_code == 401, response.text
        scheme, params = parse_challenge(response.headers["www-authenticate"])
        # RFC 6750 §3.1: no error attribute when the request carries no bearer credentials.
        assert scheme == "Bearer" and set(params) == {"realm"} and params["realm"]
        assert response.json() == NO_CREDENTIALS_BODY
        self.assert_clean(response, presented)

    def assert_insufficient_scope(self, response: httpx.Response, presented: str) -> None:
        assert response.status_code == 403, response.text
        scheme, params = parse_challenge(response.headers["www-authenticate"])
        assert scheme == "Bearer" and set(params) == {"realm", "error"}
        assert params["error"] == "insufficient_scope"
        assert response.json() == INSUFFICIENT_SCOPE_BODY
        self.assert_clean(response, presented)

    def assert_user_without_idp_tokens(self, response: httpx.Response,
                                       presented: str) -> None:
        """A16: 200, identities present, token keys ABSENT (not null, not masked)."""
        assert response.status_code == 200, response.text
        identities = response.json()["identities"]
        assert identities, "identities[] must be present"
        for identity in identities:
            assert {"provider", "user_id", "connection", "isSocial"} <= set(identity)
            present = [k for k in TOKEN_KEYS if k in identity]
            assert present == [], f"IdP token keys present without read:user_idp_tokens: {present}"
        self.assert_clean(response, presented)


def _apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for name, value in overrides.items():
        if value is MISSING:
            result.pop(name, None)
        else:
            result[name] = value
    return result


@dataclass
class World:
    """One broker for the whole module, with Alice signed in through the upstream (see the
    module docstring for why it is shared)."""

    broker: Broker
    app: dict[str, Any]
    app_tokens: dict[str, Any]
    upstream_tokens: dict[str, Any]
    canaries: list[str]
    signer: rsa.RSAPrivateKey
    kid: str
    jwks: dict[str, Any]
    outbound: list[httpx.Request]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    # The same construction as tests/conftest.py's broker fixture, at module scope.
    if PG_URL:
        await _reset_postgres(PG_URL)
    settings = Settings(
        issuer=ISSUER, data_dir=tmp_path_factory.mktemp("mgmt-auth") / "data",
        database_url=PG_URL, vault_key=jf.b64url(secrets.token_bytes(32)), upstream_timeout=2.0)
    upstream = FakeOIDCUpstream()
    outbound: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        outbound.append(request)

    # Every request the broker makes is recorded, so attack tests can assert "zero outbound
    # HTTP" (A9, A10). Plain httpx event hooks on the client handed to the runtime.
    upstream_http = httpx.AsyncClient(transport=RoutingTransport({upstream.host: upstream.app}),
                                      event_hooks={"request": [record]})
    runtime = await Runtime.start(settings, http=upstream_http)
    try:
        app = create_app(runtime=runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=ISSUER) as http:
            broker = Broker(runtime=runtime, http=http, upstream=upstream)
            web_app = await broker.web_app()
            await broker.oidc_connection([web_app["client_id"]])
            login = await broker.login(web_app)
            exchanged = await broker.exchange(web_app, login)
            assert exchanged.status_code == 200, exchanged.text
            upstream_tokens = dict(upstream.issued[-1])
            current = runtime.keys.current
            assert current is not None
            yield World(
                broker=broker, app=web_app, app_tokens=exchanged.json(),
                upstream_tokens=upstream_tokens,
                canaries=[form for name in ("access_token", "refresh_token")
                          for form in jf.secret_forms(upstream_tokens[name])],
                signer=jf.load_private_key(current.as_pem(private=True)), kid=current.kid,
                jwks=(await http.get("/.well-known/jwks.json")).json(), outbound=outbound)
    finally:
        await runtime.close()
        await upstream_http.aclose()


@pytest.fixture
def scenario(world: World, caplog: pytest.LogCaptureFixture) -> Scenario:
    caplog.set_level(logging.DEBUG, logger="idbroker")
    world.outbound.clear()
    return Scenario(broker=world.broker, caplog=caplog, app=world.app,
                    app_tokens=world.app_tokens, upstream_tokens=world.upstream_tokens,
                    canaries=list(world.canaries), signer=world.signer, kid=world.kid,
                    jwks=world.jwks, outbound=world.outbound)


Attack = Callable[[Scenario], str]


def _b64(obj: Any) -> str:
    return jf.b64url_json(obj)


# --- control: the forging machinery produces tokens the broker accepts --------------------


async def test_forged_control_token_is_accepted(scenario: Scenario) -> None:
    response = await scenario.bearer(scenario.valid())
    assert response.status_code == 200, response.text
    identity = response.json()["identities"][0]
    assert identity["access_token"] == scenario.upstream_tokens["access_token"]
    assert identity["refresh_token"] == scenario.upstream_tokens["refresh_token"]


# --- A1: no credentials -------------------------------------------------------------------

A1_HEADERS: dict[str, Callable[[Scenario], dict[str, str]]] = {
    "no-authorization-header": lambda s: {},
    "empty-authorization-header": lambda s: {"Authorization": ""},
    # RFC 6750 §3.1: "attempted using an unsupported authentication method" = no credentials.
    "basic-scheme": lambda s: {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
    "digest-scheme": lambda s: {"Authorization": 'Digest username="admin", nonce="x"'},
    "token-without-scheme": lambda s: {"Authorization": s.valid()},
    "bearer-in-other-header": lambda s: {"X-Authorization": f"Bearer {s.valid()}"},
}


@pytest.mark.parametrize("case", list(A1_HEADERS), ids=list(A1_HEADERS))
async def test_a1_no_bearer_credentials(scenario: Scenario, case: str) -> None:
    headers = A1_HEADERS[case](scenario)
    response = await scenario.get(headers=headers)
    scenario.assert_no_credentials(response, next(iter(headers.values()), None))


# --- A2: malformed Authorization header ---------------------------------------------------


def _segments(s: Scenario) -> list[str]:
    return s.valid().split(".")


A2_HEADERS: dict[str, Callable[[Scenario], str]] = {
    "bearer-alone": lambda s: "Bearer",
    "bearer-space": lambda s: "Bearer ",
    "two-tokens": lambda s: f"Bearer {s.valid()} {s.valid()}",
    "two-bearer-credentials": lambda s: f"Bearer {s.valid()}, Bearer {s.valid()}",
    "double-space": lambda s: f"Bearer  {s.valid()}",
    "tab-separator": lambda s: f"Bearer\t{s.valid()}",
    "trailing-garbage": lambda s: f"Bearer {s.valid()} x",
    "quoted-token": lambda s: f'Bearer "{s.valid()}"',
    "non-base64url-char": lambda s: "Bearer " + s.valid().replace(".", "!.", 1),
    "non-base64url-percent": lambda s: "Bearer " + s.valid().replace(".", "%2E"),
    "two-segments": lambda s: "Bearer " + ".".join(_segments(s)[:2]),
    "two-segments-trailing-dot": lambda s: "Bearer " + ".".join(_segments(s)[:2]) + ".",
    "four-segments": lambda s: f"Bearer {s.valid()}.{_segments(s)[2]}",
    "five-segments-jwe-shape": lambda s: "Bearer " + ".".join(_segments(s) + ["a", "b"]),
    "one-segment": lambda s: "Bearer " + _segments(s)[0],
    "empty-segments": lambda s: "Bearer ..",
    "header-not-json": lambda s: "Bearer " + ".".join([jf.b64url(b"not json")]
                                                      + _segments(s)[1:]),
    "header-json-array": lambda s: "Bearer " + ".".join([_b64(["RS256"])] + _segments(s)[1:]),
    "header-json-null": lambda s: "Bearer " + ".".join([_b64(None)] + _segments(s)[1:]),
    "header-bad-base64-length": lambda s: "Bearer " + ".".join(["a"] + _segments(s)[1:]),
    "header-invalid-utf8": lambda s: "Bearer " + ".".join([jf.b64url(b"\xff\xfe{\x80}")]
                                                          + _segments(s)[1:]),
    "header-deeply-nested": lambda s: "Bearer " + ".".join(
        [jf.b64url(b'{"alg":' + b"[" * 1500 + b"]" * 1500 + b"}")] + _segments(s)[1:]),
    "header-huge-integer": lambda s: "Bearer " + ".".join(
        [jf.b64url(b'{"alg":"RS256","x":' + b"9" * 5000 + b"}")] + _segments(s)[1:]),
    "payload-not-base64": lambda s: "Bearer " + ".".join(
        [_segments(s)[0], "****", _segments(s)[2]]).replace("*", "+"),
}


@pytest.mark.parametrize("case", list(A2_HEADERS), ids=list(A2_HEADERS))
async def test_a2_malformed_authorization_header(scenario: Scenario, case: str) -> None:
    authorization = A2_HEADERS[case](scenario)
    response = await scenario.get(authorization)
    # One generic body for every malformed header (ASVS 16.5.1): no parser-stage oracle.
    scenario.assert_invalid_token(response, authorization.removeprefix("Bearer").strip())


async def test_a2_two_authorization_headers_are_refused(scenario: Scenario) -> None:
    response = await scenario.get(headers=[("Authorization", f"Bearer {scenario.valid()}"),
                                           ("Authorization", "Bearer x.y.z")])
    # Either answer of the A2 row: 400 invalid_request (malformed request) or 401.
    if response.status_code == 400:
        assert response.json()["errorCode"] == "invalid_request", response.text
        scenario.assert_clean(response)
    else:
        scenario.assert_invalid_token(response, None)


async def test_bearer_scheme_is_case_insensitive(scenario: Scenario) -> None:
    """RFC 7235 §2.1: the auth-scheme is case-insensitive (control for A1/A2)."""
    for scheme in ("bearer", "BEARER"):
        response = await scenario.get(f"{scheme} {scenario.valid()}")
        assert response.status_code == 200, response.text


# --- A3: token in the query string ---------------------------------------------------------


@pytest.mark.parametrize("with_header", [False, True], ids=["query-only", "query-and-header"])
@pytest.mark.parametrize("value", ["valid", "empty"])
async def test_a3_token_in_query_is_refused(scenario: Scenario, with_header: bool,
                                            value: str) -> None:
    token = scenario.valid() if value == "valid" else ""
    response = await scenario.get(f"Bearer {scenario.valid()}" if with_header else None,
                                  params={"access_token": token})
    assert response.status_code == 400, response.text
    assert response.json() == QUERY_TOKEN_BODY
    scenario.assert_clean(response, token or None)


# --- A4: time claims -----------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


A4_CLAIMS: dict[str, Callable[[], dict[str, Any]]] = {
    "expired-61s": lambda: {"exp": _now() - 61},
    "expired-1h": lambda: {"exp": _now() - 3600, "iat": _now() - 7200},
    "exp-missing": lambda: {"exp": MISSING},
    "exp-null": lambda: {"exp": None},
    "exp-string": lambda: {"exp": str(_now() + 600)},
    "exp-bool": lambda: {"exp": True},
    "nbf-future": lambda: {"nbf": _now() + 120},
    "nbf-string": lambda: {"nbf": str(_now() - 10)},
    "iat-future": lambda: {"iat": _now() + 3600, "exp": _now() + 7200},
    "iat-missing": lambda: {"iat": MISSING},
}


@pytest.mark.parametrize("case", list(A4_CLAIMS), ids=list(A4_CLAIMS))
async def test_a4_time_claims(scenario: Scenario, case: str) -> None:
    token = scenario.forge(claims=scenario.claims(**A4_CLAIMS[case]()))
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A5: issuer ----------------------------------------------------------------------------

A5_ISSUERS: dict[str, Any] = {
    "other-issuer": "https://evil.example.test/",
    "suffix-domain": "https://idbroker.example.test.evil/",
    "prefix": "https://idbroker.example.tes",
    "no-trailing-slash": ISSUER.rstrip("/"),
    "double-trailing-slash": ISSUER + "/",
    "path-appended": ISSUER + "evil",
    "upper-case": ISSUER.upper(),
    "http-scheme": ISSUER.replace("https://", "http://"),
    "leading-space": " " + ISSUER,
    "array-evil-good": ["https://evil.example.test/", ISSUER],
    "array-good": [ISSUER],
    "object": {"iss": ISSUER},
    "null": None,
    "missing": MISSING,
}


@pytest.mark.parametrize("case", list(A5_ISSUERS), ids=list(A5_ISSUERS))
async def test_a5_wrong_issuer(scenario: Scenario, case: str) -> None:
    token = scenario.forge(claims=scenario.claims(iss=A5_ISSUERS[case]))
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A6: audience --------------------------------------------------------------------------

A6_AUDIENCES: dict[str, Any] = {
    "missing": MISSING,
    "null": None,
    "empty": "",
    "other-api": "https://evil.example.test/api/v2/",
    "userinfo": f"{ISSUER}userinfo",
    "issuer": ISSUER,
    "client-id": "attacker-m2m",
    "no-trailing-slash": MGMT_AUD.rstrip("/"),
    "suffix": MGMT_AUD + "x",
    "upper-case": MGMT_AUD.upper(),
    "array-without-mgmt": [f"{ISSUER}userinfo", "https://evil.example.test/api/v2/"],
    "empty-array": [],
    "nested-array": [[MGMT_AUD]],
    "object": {"aud": MGMT_AUD},
    "space-joined": f"{ISSUER}userinfo {MGMT_AUD}",
}


@pytest.mark.parametrize("case", list(A6_AUDIENCES), ids=list(A6_AUDIENCES))
async def test_a6_wrong_audience(scenario: Scenario, case: str) -> None:
    token = scenario.forge(claims=scenario.claims(aud=A6_AUDIENCES[case]))
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A7: alg none and other algorithm substitutions ----------------------------------------

A7_TOKENS: dict[str, Attack] = {}
for _alg in ("none", "None", "NONE", "nOnE"):
    A7_TOKENS[f"{_alg}-empty-sig"] = (
        lambda s, a=_alg: jf.unsigned(s.header(alg=a), s.claims()))
    A7_TOKENS[f"{_alg}-junk-sig"] = (
        lambda s, a=_alg: jf.unsigned(s.header(alg=a), s.claims(), "c2lnbmF0dXJl"))
    # The signature is a valid RS256 signature over this very signing input.
    A7_TOKENS[f"{_alg}-real-rs256-sig"] = (
        lambda s, a=_alg: s.forge(header=s.header(alg=a)))
    A7_TOKENS[f"{_alg}-no-kid-no-typ"] = (
        lambda s, a=_alg: jf.unsigned({"alg": a}, s.claims()))
A7_TOKENS.update({
    "alg-missing": lambda s: s.forge(header=s.header(alg=MISSING)),
    "alg-empty": lambda s: s.forge(header=s.header(alg="")),
    "alg-null": lambda s: s.forge(header=s.header(alg=None)),
    "alg-array": lambda s: s.forge(header=s.header(alg=["RS256"])),
    "alg-lower-case": lambda s: s.forge(header=s.header(alg="rs256")),
    "alg-trailing-space": lambda s: s.forge(header=s.header(alg="RS256 ")),
    "rs512-validly-signed": lambda s: s.forge(header=s.header(alg="RS512"),
                                              hash_alg=hashes.SHA512()),
    "ps256-validly-signed": lambda s: s.forge(header=s.header(alg="PS256"), pss=True),
    "rs256-label-ps256-signature": lambda s: s.forge(pss=True),
    "rs256-label-sha512-signature": lambda s: s.forge(hash_alg=hashes.SHA512()),
    "signature-stripped": lambda s: s.valid().rsplit(".", 1)[0] + ".",
    "signature-truncated": lambda s: s.valid()[:-4],
    "signature-from-other-token": lambda s: (
        s.forge(claims=s.claims(sub="someone-else@clients")).rsplit(".", 1)[0] + "."
        + s.valid().rsplit(".", 1)[1]),
    "attacker-key-real-kid": lambda s: s.forge(key=attacker_key()),
})


@pytest.mark.parametrize("case", list(A7_TOKENS), ids=list(A7_TOKENS))
async def test_a7_algorithm_and_signature(scenario: Scenario, case: str) -> None:
    token = A7_TOKENS[case](scenario)
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A8: HMAC with the public key (RS→HS key confusion) ------------------------------------

A8_FORMS = ["spki-pem", "spki-pem-no-newline", "pkcs1-pem", "spki-der", "pkcs1-der", "openssh",
            "jwk-json", "jwk-json-compact", "jwk-n", "empty"]


def _public_forms(s: Scenario) -> dict[str, bytes]:
    jwk = next(k for k in s.jwks["keys"] if k["kid"] == s.kid)
    return jf.public_key_forms(s.signer, jwk)


def _jwks_text_form(s: Scenario) -> bytes:
    return json.dumps(s.jwks).encode()


A8_TOKENS: dict[str, Attack] = {}
for _form in A8_FORMS:
    A8_TOKENS[f"hs256-{_form}"] = (
        lambda s, f=_form: jf.hmac_sign(_public_forms(s)[f], s.header(alg="HS256"), s.claims()))
A8_TOKENS.update({
    "hs384-spki-pem": lambda s: jf.hmac_sign(_public_forms(s)["spki-pem"],
                                             s.header(alg="HS384"), s.claims(), "sha384"),
    "hs512-spki-pem": lambda s: jf.hmac_sign(_public_forms(s)["spki-pem"],
                                             s.header(alg="HS512"), s.claims(), "sha512"),
    "hs256-spki-pem-no-kid": lambda s: jf.hmac_sign(
        _public_forms(s)["spki-pem"], s.header(alg="HS256", kid=MISSING), s.claims()),
    "hs256-whole-jwks-document": lambda s: jf.hmac_sign(
        _jwks_text_form(s), s.header(alg="HS256"), s.claims()),
    "hs256-kid-as-secret": lambda s: jf.hmac_sign(
        s.kid.encode(), s.header(alg="HS256"), s.claims()),
})


@pytest.mark.parametrize("case", list(A8_TOKENS), ids=list(A8_TOKENS))
async def test_a8_hmac_with_public_key(scenario: Scenario, case: str) -> None:
    token = A8_TOKENS[case](scenario)
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A9: kid ------------------------------------------------------------------------------

A9_KIDS: dict[str, Callable[[Scenario], Any]] = {
    "unknown": lambda s: "unknown-key",
    "absent": lambda s: MISSING,
    "empty": lambda s: "",
    "null": lambda s: None,
    "path-traversal": lambda s: "../../dev/null",
    "path-traversal-encoded": lambda s: "..%2F..%2Fdev%2Fnull",
    "sql-injection": lambda s: "' OR 1=1--",
    "sql-union": lambda s: "x' UNION SELECT 'secret' --",
    "nul-byte": lambda s: s.kid + "\x00",
    "trailing-space": lambda s: s.kid + " ",
    "case-changed": lambda s: s.kid.swapcase(),
    "kid-as-integer": lambda s: 0,
    "kid-as-array": lambda s: [s.kid],
    "kid-as-object": lambda s: {"kid": s.kid},
    "10kb": lambda s: "k" * 10_240,
}


@pytest.mark.parametrize("case", list(A9_KIDS), ids=list(A9_KIDS))
async def test_a9_kid(scenario: Scenario, case: str) -> None:
    token = scenario.forge(header=scenario.header(kid=A9_KIDS[case](scenario)))
    scenario.assert_invalid_token(await scenario.bearer(token), token)


async def test_a9_kid_absent_with_two_published_keys(scenario: Scenario) -> None:
    """With ≥2 keys a missing kid must not fall back to "the first key" (nor to any key)."""
    from idbroker.vault.signing import add_key  # set-up only: publish a second key

    broker = scenario.broker
    next_kid = await add_key(broker.runtime.store, "next")
    await broker.runtime.keys.load(broker.runtime.store)
    assert next_kid in broker.runtime.keys.by_kid and len(broker.runtime.keys.by_kid) == 2
    jwks = (await broker.http.get("/.well-known/jwks.json")).json()
    assert len(jwks["keys"]) == 2
    next_signer = jf.load_private_key(broker.runtime.keys.by_kid[next_kid].as_pem(private=True))

    attacks = {
        "no-kid-current-key": scenario.forge(header=scenario.header(kid=MISSING)),
        "no-kid-next-key": scenario.forge(header=scenario.header(kid=MISSING), key=next_signer),
        "current-kid-next-key": scenario.forge(key=next_signer),
        "next-kid-current-key": scenario.forge(header=scenario.header(kid=next_kid)),
    }
    for name, token in attacks.items():
        response = await scenario.bearer(token)
        assert response.status_code == 401, name
        scenario.assert_invalid_token(response, token)
    assert (await scenario.bearer(scenario.valid())).status_code == 200


# --- A10: jku / x5u / x5c: key sources named by the token ----------------------------------

_ATTACKER_JWKS_URLS = ["https://attacker.example.test/jwks.json",
                       "http://169.254.169.254/latest/meta-data/", f"{ISSUER}.well-known/jwks.json"]


def _attacker_header(s: Scenario, **extra: Any) -> dict[str, Any]:
    return s.header(kid="attacker-key", **extra)


A10_TOKENS: dict[str, Attack] = {}
for _n, _url in enumerate(_ATTACKER_JWKS_URLS):
    for _param in ("jku", "x5u"):
        A10_TOKENS[f"{_param}-{_n}-attacker-signed"] = (
            lambda s, p=_param, u=_url: s.forge(header=_attacker_header(s, **{p: u}),
                                                key=attacker_key()))
        A10_TOKENS[f"{_param}-{_n}-broker-signed"] = (
            lambda s, p=_param, u=_url: s.forge(header=s.header(**{p: u})))
A10_TOKENS.update({
    "x5c-attacker-cert": lambda s: s.forge(
        header=_attacker_header(s, x5c=[base64.b64encode(
            jf.self_signed_cert_der(attacker_key(), "idbroker.example.test")).decode()]),
        key=attacker_key()),
    "x5t-with-attacker-key": lambda s: s.forge(
        header=_attacker_header(s, x5t="AAAA"), key=attacker_key()),
})


@pytest.mark.parametrize("case", list(A10_TOKENS), ids=list(A10_TOKENS))
async def test_a10_key_source_headers(scenario: Scenario, case: str) -> None:
    token = A10_TOKENS[case](scenario)
    # assert_invalid_token also asserts zero outbound HTTP from the broker.
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A11: embedded jwk; JWS JSON serialization ---------------------------------------------


def _flattened_json(s: Scenario, signature: str | None) -> str:
    protected, payload, real_signature = s.valid().split(".")
    body: dict[str, Any] = {"protected": protected, "payload": payload}
    if signature is not None:
        body["signature"] = real_signature if signature == "real" else signature
    return json.dumps(body, separators=(",", ":"))


def _general_json(s: Scenario, signatures: list[dict[str, str]] | None) -> str:
    protected, payload, real_signature = s.valid().split(".")
    if signatures is None:
        signatures = [{"protected": protected, "signature": real_signature}]
    return json.dumps({"payload": payload, "signatures": signatures}, separators=(",", ":"))


A11_TOKENS: dict[str, Attack] = {
    "jwk-attacker-key-attacker-signed": lambda s: s.forge(
        header=s.header(kid=MISSING, jwk=jf.public_jwk(attacker_key().public_key())),
        key=attacker_key()),
    "jwk-attacker-key-with-kid": lambda s: s.forge(
        header=_attacker_header(s, jwk=jf.public_jwk(attacker_key().public_key(),
                                                     "attacker-key")), key=attacker_key()),
    "jwk-attacker-key-broker-kid": lambda s: s.forge(
        header=s.header(jwk=jf.public_jwk(attacker_key().public_key(), s.kid)),
        key=attacker_key()),
    "jwk-broker-key-broker-signed": lambda s: s.forge(
        header=s.header(jwk=jf.public_jwk(s.signer.public_key(), s.kid))),
    "json-flattened-no-signature": lambda s: _flattened_json(s, None),
    "json-flattened-empty-signature": lambda s: _flattened_json(s, ""),
    "json-flattened-real-signature": lambda s: _flattened_json(s, "real"),
    "json-general-no-signatures": lambda s: _general_json(s, []),
    "json-general-empty-signature": lambda s: _general_json(
        s, [{"protected": s.valid().split(".")[0], "signature": ""}]),
    "json-general-real-signature": lambda s: _general_json(s, None),
    "json-flattened-base64url": lambda s: jf.b64url(_flattened_json(s, "real").encode()),
}


@pytest.mark.parametrize("case", list(A11_TOKENS), ids=list(A11_TOKENS))
async def test_a11_embedded_key_and_json_serialization(scenario: Scenario, case: str) -> None:
    token = A11_TOKENS[case](scenario)
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A12: crit ----------------------------------------------------------------------------

A12_HEADERS: dict[str, dict[str, Any]] = {
    "crit-unknown-exp2": {"crit": ["exp2"], "exp2": 0},
    "crit-unknown-not-present": {"crit": ["exp2"]},
    "crit-b64-false": {"crit": ["b64"], "b64": False},
    "crit-empty-list": {"crit": []},
    "crit-string": {"crit": "exp2", "exp2": 0},
    "unknown-non-crit-param": {"zip": "DEF"},
    "cty-jwt-nested": {"cty": "JWT"},
}


@pytest.mark.parametrize("case", list(A12_HEADERS), ids=list(A12_HEADERS))
async def test_a12_crit_and_unknown_header_params(scenario: Scenario, case: str) -> None:
    token = scenario.forge(header=scenario.header(**A12_HEADERS[case]))
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A13: wrong token type, validly signed by the broker -----------------------------------

A13_TOKENS: dict[str, Attack] = {
    "broker-id-token": lambda s: s.app_tokens["id_token"],
    "broker-refresh-token": lambda s: s.app_tokens["refresh_token"],
    "person-access-token-userinfo-audience": lambda s: s.app_tokens["access_token"],
    "typ-JWT": lambda s: s.forge(header=s.header(typ="JWT")),
    "typ-missing": lambda s: s.forge(header=s.header(typ=MISSING)),
    "typ-jwt-lower": lambda s: s.forge(header=s.header(typ="jwt")),
    "typ-logout-jwt": lambda s: s.forge(
        header=s.header(typ="logout+jwt"),
        claims=s.claims(events={"http://schemas.openid.net/event/backchannel-logout": {}})),
    "logout-token-shape-typ-JWT": lambda s: s.forge(
        header=s.header(typ="JWT"),
        claims=s.claims(events={"http://schemas.openid.net/event/backchannel-logout": {}},
                        sid="x")),
    "id-token-claims-typ-JWT-mgmt-aud": lambda s: s.forge(
        header=s.header(typ="JWT"),
        claims=s.claims(nonce="n", auth_time=_now(), email="alice@example.com")),
    "upstream-access-token": lambda s: s.upstream_tokens["access_token"],
    "upstream-refresh-token": lambda s: s.upstream_tokens["refresh_token"],
    "upstream-id-token": lambda s: s.upstream_tokens["id_token"],
}


@pytest.mark.parametrize("case", list(A13_TOKENS), ids=list(A13_TOKENS))
async def test_a13_wrong_token_type(scenario: Scenario, case: str) -> None:
    token = A13_TOKENS[case](scenario)
    assert token, case
    response = await scenario.bearer(token)
    if case.startswith("upstream-"):
        # The canary itself is the presented credential here: still never echoed or logged.
        assert token in scenario.canaries or case == "upstream-id-token"
    scenario.assert_invalid_token(response, token)


# --- A14: oversized tokens -------------------------------------------------------------------

A14_TOKENS: dict[str, Attack] = {
    "1mb-junk-token": lambda s: ".".join(["a" * 349_525] * 3),
    "1mb-valid-prefix": lambda s: s.valid() + "A" * 1_048_576,
    "100kb-header": lambda s: s.forge(header=s.header(x="h" * 100_000)),
    "100kb-header-unsigned": lambda s: jf.unsigned(
        {"alg": "RS256", "typ": "at+jwt", "kid": s.kid, "x": "h" * 100_000}, s.claims(), "x"),
    "10000-claims": lambda s: s.forge(
        claims=s.claims(**{f"c{n}": n for n in range(10_000)})),
    "1mb-claim": lambda s: s.forge(claims=s.claims(blob="b" * 1_048_576)),
}


@pytest.mark.parametrize("case", list(A14_TOKENS), ids=list(A14_TOKENS))
async def test_a14_oversized_token(scenario: Scenario, case: str) -> None:
    token = A14_TOKENS[case](scenario)
    scenario.assert_invalid_token(await scenario.bearer(token), token)


# --- A15: valid token without read:users ---------------------------------------------------

A15_SCOPES = {
    "read-clients-only": ["read:clients"],
    "idp-tokens-scope-alone": ["read:user_idp_tokens"],
    "write-scopes-only": ["update:users", "delete:users", "create:users"],
}


@pytest.mark.parametrize("case", list(A15_SCOPES), ids=list(A15_SCOPES))
async def test_a15_issued_token_without_read_users(scenario: Scenario, case: str) -> None:
    token = await scenario.broker.mgmt_token(A15_SCOPES[case])
    scenario.assert_insufficient_scope(await scenario.bearer(token), token)


@pytest.mark.parametrize("scope", [MISSING, "", "read:user"],
                         ids=["scope-missing", "scope-empty", "read-user-singular"])
async def test_a15_forged_token_without_read_users(scenario: Scenario, scope: Any) -> None:
    token = scenario.forge(claims=scenario.claims(scope=scope))
    scenario.assert_insufficient_scope(await scenario.bearer(token), token)


# --- A16: read:users without read:user_idp_tokens ------------------------------------------

A16_PARAMS: dict[str, dict[str, str]] = {
    "no-params": {},
    "fields-identities": {"fields": "identities", "include_fields": "true"},
    "fields-identities-and-id": {"fields": "user_id,identities"},
    "exclude-email": {"fields": "email", "include_fields": "false"},
    "fields-token-paths": {"fields": "identities,identities.access_token,access_token"},
}


@pytest.mark.parametrize("case", list(A16_PARAMS), ids=list(A16_PARAMS))
async def test_a16_idp_tokens_absent_without_scope(scenario: Scenario, case: str) -> None:
    token = await scenario.broker.mgmt_token(["read:users"])
    store = scenario.broker.runtime.store
    before = len(await store.list_audit(user_id=USER_ID))
    response = await scenario.bearer(token, **A16_PARAMS[case])
    scenario.assert_user_without_idp_tokens(response, token)
    # No IdP token was read, so no "mgmt_api_read" audit entry either.
    assert len(await store.list_audit(user_id=USER_ID)) == before


# --- A19: scope look-alikes ----------------------------------------------------------------

# claims overrides -> expected status (200: read:users granted, tokens must stay absent)
A19_SCOPES: dict[str, tuple[dict[str, Any], int]] = {
    "suffix-x": ({"scope": "read:users read:user_idp_tokens_x"}, 200),
    "prefix-x": ({"scope": "read:users xread:user_idp_tokens"}, 200),
    "upper-case": ({"scope": "read:users READ:USER_IDP_TOKENS"}, 200),
    "mixed-case": ({"scope": "read:users Read:User_Idp_Tokens"}, 200),
    "singular": ({"scope": "read:users read:user_idp_token"}, 200),
    "extra-segment": ({"scope": "read:users read:user_idp_tokens:all"}, 200),
    "nul-suffix": ({"scope": "read:users read:user_idp_tokens\x00"}, 200),
    "cyrillic-e": ({"scope": "read:users r\u0435ad:user_idp_tokens"}, 200),
    "only-in-permissions": ({"scope": "read:users",
                             "permissions": ["read:users", "read:user_idp_tokens"]}, 200),
    "only-in-scp": ({"scope": "read:users", "scp": ["read:user_idp_tokens"]}, 200),
    "only-in-custom-claim": ({"scope": "read:users",
                              f"{ISSUER}scope": "read:user_idp_tokens"}, 200),
    "scope-json-array": ({"scope": ["read:users", "read:user_idp_tokens"]}, 403),
    "scope-json-object": ({"scope": {"read:users": True, "read:user_idp_tokens": True}}, 403),
    "comma-delimited": ({"scope": "read:users,read:user_idp_tokens"}, 403),
    "permissions-only-no-scope": ({"scope": MISSING,
                                   "permissions": ["read:users", "read:user_idp_tokens"]}, 403),
}


@pytest.mark.parametrize("case", list(A19_SCOPES), ids=list(A19_SCOPES))
async def test_a19_scope_look_alikes_never_unlock_tokens(scenario: Scenario, case: str) -> None:
    overrides, status = A19_SCOPES[case]
    token = scenario.forge(claims=scenario.claims(**overrides))
    response = await scenario.bearer(token)
    if status == 200:
        scenario.assert_user_without_idp_tokens(response, token)
    else:
        scenario.assert_insufficient_scope(response, token)


# --- A21: read:user_idp_tokens is never granted implicitly ---------------------------------


def _claims_of(token: str) -> dict[str, Any]:
    return jf.unb64url_json(token.split(".")[1])


async def test_a21_client_credentials_cannot_ask_for_ungranted_scope(scenario: Scenario) -> None:
    broker = scenario.broker
    client_id, secret = await broker.m2m_client(["read:users"])
    asked = await broker.http.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        "audience": MGMT_AUD, "scope": "read:users read:user_idp_tokens"})
    assert asked.status_code in (400, 403), asked.text
    assert asked.json()["error"] in ("invalid_scope", "access_denied")
    assert "access_token" not in asked.json()

    default = await broker.token_for(client_id, secret)
    assert default["scope"] == "read:users"
    assert _claims_of(default["access_token"])["scope"] == "read:users"
    response = await scenario.bearer(default["access_token"])
    scenario.assert_user_without_idp_tokens(response, default["access_token"])


async def test_a21_every_other_scope_still_hides_tokens(scenario: Scenario) -> None:
    from idbroker.oauth.scopes import MANAGEMENT_SCOPES  # the catalogue, read-only

    everything_else = [s for s in MANAGEMENT_SCOPES if s != "read:user_idp_tokens"]
    token = await scenario.broker.mgmt_token(everything_else)
    assert "read:user_idp_tokens" not in _claims_of(token)["scope"].split(" ")
    scenario.assert_user_without_idp_tokens(await scenario.bearer(token), token)


async def test_a21_person_cannot_mint_management_scopes(scenario: Scenario) -> None:
    """A person asks /authorize for the Management API audience and its scopes. Whatever the
    broker issues must not unlock the Management API (still less the IdP tokens)."""
    broker = scenario.broker
    # Mallory, not Alice: Alice's stored upstream tokens are the module's canaries.
    broker.upstream.add_user("mallory")
    broker.upstream.set_login("mallory")
    try:
        login = await broker.login(scenario.app, audience=MGMT_AUD,
                                   scope="openid read:users read:user_idp_tokens create:clients")
    finally:
        broker.upstream.set_login("alice")
    exchanged = await broker.exchange(scenario.app, login)
    assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["access_token"]
    claims = _claims_of(token)
    assert claims["sub"] == "oidc|acme-oidc|mallory"
    from idbroker.oauth.scopes import MANAGEMENT_SCOPES  # the catalogue, read-only

    # A21: a person is never granted a Management API scope, whatever they ask for.
    assert not set(str(claims.get("scope", "")).split(" ")) & set(MANAGEMENT_SCOPES)
    scenario.canaries += [form for name in ("access_token", "refresh_token")
                          for form in jf.secret_forms(broker.upstream.issued[-1][name])]
    scenario.outbound.clear()
    scenario.assert_insufficient_scope(await scenario.bearer(token), token)
    clients = await broker.http.get("/api/v2/clients",
                                    headers={"Authorization": f"Bearer {token}"})
    assert clients.status_code == 403, clients.text
    created = await broker.http.post("/api/v2/clients", json={"name": "evil"},
                                     headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 403, created.text


@pytest.mark.parametrize("gty", [MISSING, "authorization_code", "Client-Credentials"])
async def test_a21_forged_person_token_holds_no_management_scope(scenario: Scenario,
                                                                 gty: Any) -> None:
    """The rule behind the test above, pinned on a validly signed token: only a
    client-credentials token carries Management API scopes."""
    token = scenario.forge(claims=scenario.claims(sub=USER_ID, gty=gty, gid="gr_x"))
    scenario.assert_insufficient_scope(await scenario.bearer(token), token)


# --- A22: errors carry no stack trace, canary or key material -------------------------------

A22_PAYLOADS: dict[str, bytes] = {
    "payload-json-array": b"[]",
    "payload-json-string": b'"x"',
    "payload-json-null": b"null",
    "payload-not-json": b"not json",
    "payload-invalid-utf8": b"\xff\xfe",
    "payload-huge-integer": b'{"exp":' + b"9" * 5000 + b"}",
    "payload-deeply-nested": b'{"x":' + b"[" * 1500 + b"]" * 1500 + b"}",
    "payload-sub-object": json.dumps({"iss": ISSUER, "sub": {"id": 1}, "aud": MGMT_AUD,
                                      "iat": 1, "exp": 4_000_000_000}).encode(),
}


@pytest.mark.parametrize("case", list(A22_PAYLOADS), ids=list(A22_PAYLOADS))
async def test_a22_validly_signed_garbage_payload(scenario: Scenario, case: str) -> None:
    token = scenario.forge(claims=A22_PAYLOADS[case])
    scenario.assert_invalid_token(await scenario.bearer(token), token)


async def test_a22_not_found_body_is_clean(scenario: Scenario) -> None:
    token = scenario.valid()
    response = await scenario.broker.http.get(
        "/api/v2/users/" + quote("oidc|acme-oidc|nobody", safe=""),
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found",
                               "message": "The user does not exist.",
                               "errorCode": "inexistent_user"}
    scenario.assert_clean(response, token)


# --- A23: token-bearing responses are not cacheable ----------------------------------------


async def test_a23_token_bearing_response_is_not_cacheable(scenario: Scenario) -> None:
    token = await scenario.broker.mgmt_token(["read:users", "read:user_idp_tokens"])
    response = await scenario.bearer(token)
    assert response.status_code == 200
    assert response.json()["identities"][0]["access_token"] == (
        scenario.upstream_tokens["access_token"])
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert "etag" not in response.headers and "last-modified" not in response.headers
    assert "expires" not in response.headers or response.headers["expires"] in ("0", "-1")
