"""Sign in with Apple quirks the conformance suite does not cover: the cross-site form_post
callback and the SameSite=Lax binding cookie, the name sent only on the first login, the
ES256 client secret minted from the sealed private key, and option validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from tests.fakes.providers.apple import FakeApple
from tests.fakes.providers.base import FakeProvider
from tests.fakes.routing_transport import RoutingTransport
from tests.functional.providers.conftest import Driver, posted_form
from tests.support import APP_CALLBACK, ISSUER, query_of


@pytest.fixture
def provider() -> FakeProvider:
    return FakeApple()


async def _to_apple(driver: Driver, app: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Start a login and consent at Apple; return the form Apple's page would post."""
    params, _, _ = driver.broker.authorize_params(app, connection="apple")
    started = await driver.broker.start(params)
    assert started.status_code == 302, started.text
    async with httpx.AsyncClient(transport=RoutingTransport({"appleid.apple.com":
                                                             driver.fake.app})) as browser:
        page = await browser.get(started.headers["location"])
    assert page.status_code == 200, page.text
    return posted_form(page.text)


async def _post_without_cookies(driver: Driver, action: str,
                                fields: dict[str, str]) -> httpx.Response:
    """What a browser does with a cross-site POST: our SameSite=Lax cookie stays behind."""
    saved = httpx.Cookies(driver.broker.http.cookies)
    driver.broker.http.cookies.clear()
    try:
        return await driver.broker.http.post(action, data=fields)
    finally:
        driver.broker.http.cookies = saved


async def test_cross_site_form_post_is_resubmitted_same_site(driver: Driver,
                                                             provider: FakeProvider) -> None:
    assert isinstance(provider, FakeApple)
    app = await driver.setup()
    action, fields = await _to_apple(driver, app)
    assert provider.last_authorize["response_mode"] == "form_post"
    assert action == f"{ISSUER}login/callback" and "user" in fields

    page = await _post_without_cookies(driver, action, fields)
    assert page.status_code == 200, page.text
    assert "no-store" in page.headers["cache-control"]
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert provider.calls["token"] == 0  # nothing redeemed, nothing consumed yet
    again_action, again = posted_form(page.text)
    assert again_action == f"{ISSUER}login/callback"
    assert again == {**fields, "_idb_resubmit": "1"}

    # The browser re-posts from our own page: same-site, so its binding cookie comes along.
    back = await driver.broker.http.post(again_action, data=again)
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(APP_CALLBACK)
    assert "code" in query_of(back.headers["location"])
    user = await driver.user(await driver.reader())
    assert user["name"] == "Jane Appleseed" and user["email_verified"] is True
    assert user["is_private_email"] is True


async def test_resubmit_without_the_binding_cookie_is_refused(driver: Driver,
                                                              provider: FakeProvider) -> None:
    """Login CSRF: an attacker's code posted in a victim's browser. The resubmit page posts
    it back same-site, but the victim's browser holds no cookie for this transaction."""
    app = await driver.setup()
    action, fields = await _to_apple(driver, app)
    page = await _post_without_cookies(driver, action, fields)
    _, again = posted_form(page.text)
    refused = await _post_without_cookies(driver, action, again)
    assert refused.status_code == 400, refused.text
    assert "another browser" in refused.text
    assert provider.calls["token"] == 0
    users = await driver.broker.mgmt("GET", "users", token=await driver.reader())
    assert not users.json() or not (users.json() if isinstance(users.json(), list)
                                    else users.json().get("users"))


async def test_name_only_on_first_login_is_kept(driver: Driver, provider: FakeProvider) -> None:
    app = await driver.setup()
    await driver.login(app)
    action, fields = await _to_apple(driver, app)
    assert "user" not in fields  # Apple sends the name once
    back = await driver.broker.http.post(action, data=fields)
    assert back.status_code == 302 and "code" in query_of(back.headers["location"])
    user = await driver.user(await driver.reader())
    assert user["logins_count"] == 2
    assert (user["name"], user["given_name"], user["family_name"]) == \
        ("Jane Appleseed", "Jane", "Appleseed")


async def test_client_secret_is_an_es256_jwt_minted_once(driver: Driver,
                                                         provider: FakeProvider) -> None:
    assert isinstance(provider, FakeApple)
    app = await driver.setup(client_secret_ttl_s=3600)
    await driver.login(app)
    checker = await driver.broker.mgmt_token(["read:user_idp_tokens"])
    await driver.broker.mgmt("GET", driver.tokens_path() + "/validation", token=checker)
    first, second = provider.secrets_seen
    assert first == second  # cached, not minted per call
    assert first["iss"] == provider.team_id and first["sub"] == provider.client_id
    assert first["aud"] == "https://appleid.apple.com" and first["exp"] - first["iat"] == 3600


async def test_private_key_is_sealed_and_never_returned(driver: Driver,
                                                        provider: FakeProvider) -> None:
    assert isinstance(provider, FakeApple)
    app = await driver.broker.web_app()
    created = await driver.connection(app)
    pem_line = provider.client_secret.splitlines()[1]
    assert pem_line not in str(created) and "private_key" not in created["options"]
    got = await driver.broker.mgmt("GET", f"connections/{created['id']}")
    assert pem_line not in got.text
    # A change of other options keeps the write-only key; logins still work.
    changed = await driver.broker.mgmt("PATCH", f"connections/{created['id']}", json={
        "options": {"client_id": provider.client_id, "team_id": provider.team_id,
                    "key_id": provider.key_id, "client_secret_ttl_s": 7200}})
    assert changed.status_code == 200, changed.text
    assert pem_line not in changed.text
    assert "code" in await driver.login(app)


async def test_without_name_and_email_the_callback_is_a_query(driver: Driver,
                                                              provider: FakeProvider) -> None:
    app = await driver.setup(scope="")
    result = await driver.login(app)
    assert "code" in result
    assert provider.last_authorize["response_mode"] == "query"
    assert "scope" not in provider.last_authorize
    user = await driver.user(await driver.reader())
    assert "email" not in user and user["email_verified"] is False


def _options(**changes: Any) -> dict[str, Any]:
    pem = ECKey.generate_key("P-256").as_pem(private=True).decode()
    return {"client_id": "com.example.web", "team_id": "ABCDE12345", "key_id": "KEY1234567",
            "private_key": pem, **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"team_id": "abc"}, "options.team_id"),
    ({"key_id": "KEY-1234567"}, "options.key_id"),
    ({"private_key": "not a key"}, "options.private_key"),
    ({"private_key": RSAKey.generate_key(2048).as_pem(private=True).decode()},
     "options.private_key"),
    ({"private_key": ECKey.generate_key("P-384").as_pem(private=True).decode()},
     "P-256"),
    ({"token_endpoint": "https://evil.example/token"}, "cannot be set for apple"),
    ({"client_secret_ttl_s": 16_000_000}, "options.client_secret_ttl_s"),
])
async def test_bad_options_get_clear_errors(driver: Driver, changes: dict[str, Any],
                                            message: str) -> None:
    options = _options(**changes)
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "apple", "strategy": "apple", "options": options})
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert max(options["private_key"].splitlines(), key=len) not in response.text


async def test_missing_private_key_is_refused(driver: Driver) -> None:
    options = _options()
    del options["private_key"]
    response = await driver.broker.mgmt("POST", "connections", json={
        "name": "apple", "strategy": "apple", "options": options})
    assert response.status_code == 400 and "options.private_key" in response.json()["message"]
