"""X (Twitter) OAuth 1.0a: what the conformance suite does not cover. The signature matches
X's documented example; the fake refuses a replayed or mis-signed request; the request-token
secret stays sealed in the login transaction; a callback must carry this login's own request
token; the identity carries ``access_token_secret``, and neither secret is stored in clear."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from authlib.oauth1.rfc5849 import client_auth

from idbroker.connectors.oauth1_signing import OAuth1Signer
from tests.fakes.providers.base import FakeProvider
from tests.fakes.providers.twitter import (
    COULD_NOT_AUTHENTICATE, FakeTwitter, hmac_sha1, oauth_header, signature_base,
)
from tests.fakes.routing_transport import RoutingTransport
from tests.functional.providers.conftest import Driver
from tests.functional.test_no_cleartext_secrets import _forms, _stored_bytes
from tests.support import APP_CALLBACK, query_of

# developer.x.com, "Creating a signature": the documented request and its signature.
X_EXAMPLE = {
    "consumer_key": "xvz1evFS4wEEPTGEFPHBog",
    "consumer_secret": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    "token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    "token_secret": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    "nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", "timestamp": "1318622958",
    "signature": "hCtSmYh+iHYCEqBWrE7C7hYmtUk=",
}


@pytest.fixture
def provider() -> FakeProvider:
    return FakeTwitter()


def _fake(provider: FakeProvider) -> FakeTwitter:
    assert isinstance(provider, FakeTwitter)
    return provider


async def test_signature_matches_x_documented_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_auth, "generate_nonce", lambda: X_EXAMPLE["nonce"])
    monkeypatch.setattr(client_auth, "generate_timestamp", lambda: X_EXAMPLE["timestamp"])
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    signer = OAuth1Signer(X_EXAMPLE["consumer_key"], X_EXAMPLE["consumer_secret"],
                          token=X_EXAMPLE["token"], token_secret=X_EXAMPLE["token_secret"])
    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        await http.post("https://api.twitter.com/1.1/statuses/update.json",
                        params={"include_entities": "true"},
                        data={"status": "Hello Ladies + Gentlemen, a signed OAuth request!"},
                        auth=signer)
    header = oauth_header(seen[0].headers["authorization"])
    assert header is not None and header["oauth_signature"] == X_EXAMPLE["signature"]
    # The fake's own verifier agrees, so a fake that accepts a login checks real signatures.
    params = [(k, v) for k, v in header.items() if k != "oauth_signature"]
    params += [("include_entities", "true"),
               ("status", "Hello Ladies + Gentlemen, a signed OAuth request!")]
    base = signature_base("POST", "https://api.twitter.com/1.1/statuses/update.json", params)
    assert hmac_sha1(base, X_EXAMPLE["consumer_secret"], X_EXAMPLE["token_secret"]) == \
        X_EXAMPLE["signature"]


async def test_login_stores_the_token_and_its_secret(driver: Driver,
                                                     provider: FakeProvider) -> None:
    fake = _fake(provider)
    app = await driver.setup()
    assert "code" in await driver.login(app)
    user = await driver.user(await driver.reader())
    assert user["email"] == "jane@example.com" and user["email_verified"] is True
    assert user["screen_name"] == "janex" and user["location"] == "Lisbon"
    identity = user["identities"][0]
    assert identity["user_id"] == "1234567890123"
    assert fake.secrets[identity["access_token"]] == identity["access_token_secret"]
    assert "refresh_token" not in identity and "expires_in" not in identity
    plain = await driver.user(await driver.broker.mgmt_token(["read:users"]))
    assert "access_token_secret" not in plain["identities"][0]


async def test_without_email_permission_the_profile_has_no_email(
        driver: Driver, provider: FakeProvider) -> None:
    _fake(provider).email_permission = False
    app = await driver.setup()
    await driver.login(app)
    user = await driver.user(await driver.reader())
    assert "email" not in user and user["email_verified"] is False


async def test_the_fake_refuses_a_replayed_or_mis_signed_request(provider: FakeProvider) -> None:
    fake = _fake(provider)
    captured: list[httpx.Request] = []
    inner = httpx.ASGITransport(app=fake.app)

    async def capture(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return await inner.handle_async_request(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(capture)) as http:
        callback = "https://idbroker.example.test/login/callback?state=s1"
        first = await http.post("https://api.twitter.com/oauth/request_token",
                                auth=OAuth1Signer(fake.client_id, fake.client_secret,
                                                  callback=callback))
        assert first.status_code == 200 and dict(parse_qsl(first.text))["oauth_token"]
        replayed = await http.post("https://api.twitter.com/oauth/request_token",
                                   headers={"Authorization":
                                            captured[0].headers["authorization"]})
        assert replayed.status_code == 401 and replayed.json() == COULD_NOT_AUTHENTICATE
        wrong = await http.post("https://api.twitter.com/oauth/request_token",
                                auth=OAuth1Signer(fake.client_id, "not-the-secret",
                                                  callback=callback))
        assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == 32


async def _started(driver: Driver, app: dict[str, str], **extra: str) -> tuple[httpx.Response, str]:
    params, _, _ = driver.broker.authorize_params(app, connection="twitter", **extra)
    started = await driver.broker.start(params)
    assert started.status_code == 302, started.text
    return started, params["state"]


async def test_state_rides_in_the_callback_and_the_secret_stays_sealed(
        driver: Driver, provider: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = _fake(provider)
    app = await driver.setup()
    started, _ = await _started(driver, app, prompt="login")
    location = urlsplit(started.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == \
        "https://api.twitter.com/oauth/authenticate"
    sent = dict(parse_qsl(location.query))
    assert sent["force_login"] == "true" and set(sent) == {"oauth_token", "force_login"}
    pending = fake.request_tokens[sent["oauth_token"]]
    assert urlsplit(pending["callback"]).query.startswith("state=")
    request_secret = fake.secrets[sent["oauth_token"]]
    assert request_secret not in started.text and request_secret not in str(started.headers)

    async with httpx.AsyncClient(transport=RoutingTransport({"api.twitter.com": fake.app})) as b:
        consent = await b.get(started.headers["location"])
    back = await driver.broker.callback(consent)
    assert "code" in query_of(back.headers["location"])
    identity = (await driver.user(await driver.reader()))["identities"][0]
    stored = await _stored_bytes(driver.broker, driver.broker.runtime.settings.data_dir)
    for name, secret in {"request token secret": request_secret,
                         "access token secret": identity["access_token_secret"],
                         "access token": identity["access_token"]}.items():
        for form in _forms(secret):
            assert form not in stored, f"{name} stored in clear"
            assert form not in caplog.text.encode(), f"{name} in the logs"


async def test_a_callback_with_another_logins_request_token_is_refused(
        driver: Driver, provider: FakeProvider) -> None:
    fake = _fake(provider)
    app = await driver.setup()
    victim, _ = await _started(driver, app)
    attacker, _ = await _started(driver, app)
    async with httpx.AsyncClient(transport=RoutingTransport({"api.twitter.com": fake.app})) as b:
        theirs = query_of((await b.get(attacker.headers["location"])).headers["location"])
        ours = (await b.get(victim.headers["location"])).headers["location"]
    # The victim's callback (its state, its browser) with the attacker's token and verifier.
    mine = query_of(ours)
    forged = (f"{ours.split('?')[0]}?state={mine['state']}&oauth_token={theirs['oauth_token']}"
              f"&oauth_verifier={theirs['oauth_verifier']}")
    back = await driver.broker.http.get(forged)
    assert back.status_code == 302
    assert query_of(back.headers["location"])["error"] == "access_denied"
    assert fake.calls["token"] == 0


async def test_denied_consent_refuses_the_login(driver: Driver, provider: FakeProvider) -> None:
    _fake(provider).deny = True
    app = await driver.setup()
    result = await driver.login(app)
    assert result["error"] == "access_denied"
    assert provider.calls["token"] == 0


@pytest.mark.parametrize("problem", ["wrong_secret", "callback_not_approved"])
async def test_request_token_refusal_goes_back_to_the_app(driver: Driver, provider: FakeProvider,
                                                          problem: str) -> None:
    fake = _fake(provider)
    if problem == "callback_not_approved":
        fake.approved_callbacks = ["https://elsewhere.example/callback"]
        app = await driver.setup()
    else:
        app = await driver.setup(client_secret="not-the-secret")
    started, _ = await _started(driver, app)
    location = started.headers["location"]
    assert location.startswith(APP_CALLBACK)
    error = query_of(location)["error"]
    assert error == ("access_denied" if problem == "wrong_secret" else "temporarily_unavailable")
    assert fake.calls["authorize"] == 0
