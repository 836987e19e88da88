"""The legacy implicit flow: only for applications that opted in (grant_types implicit)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

from idbroker.encoding import b64url_encode
from tests.functional.sessions.conftest import Apps, silent, unverified
from tests.support import APP_CALLBACK, Broker, query_of


def fragment_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment).items()}


async def implicit_app(broker: Broker, apps: Apps) -> dict:  # type: ignore[type-arg]
    app = await broker.web_app(app_type="spa", grant_types=["implicit", "authorization_code"])
    connection = (await broker.mgmt("GET", "connections")).json()[0]
    enabled = [*connection["enabled_clients"], app["client_id"]]
    assert (await broker.mgmt("PATCH", f"connections/{connection['id']}",
                              json={"enabled_clients": enabled})).status_code == 200
    return app


async def test_token_id_token_in_the_fragment(broker: Broker, apps: Apps) -> None:
    app = await implicit_app(broker, apps)
    await broker.login(apps.first)
    for response_type in ("token id_token", "id_token token"):
        response = await silent(broker, app, response_type=response_type, nonce="n-1",
                                state="s-1", scope="openid profile")
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(APP_CALLBACK + "#") and "?" not in location
        out = fragment_of(location)
        assert out["token_type"] == "Bearer" and out["state"] == "s-1"
        assert out["expires_in"].isdigit() and out["scope"] == "openid profile"
        claims = unverified(out["id_token"])
        assert claims["nonce"] == "n-1" and claims["aud"] == app["client_id"]
        digest = hashlib.sha256(out["access_token"].encode()).digest()
        assert claims["at_hash"] == b64url_encode(digest[:16])
        assert "sid" in claims
        userinfo = await broker.http.get("/userinfo", headers={
            "Authorization": f"Bearer {out['access_token']}"})
        assert userinfo.json()["sub"] == "oidc|acme-oidc|alice"


async def test_id_token_alone_and_token_alone(broker: Broker, apps: Apps) -> None:
    app = await implicit_app(broker, apps)
    await broker.login(apps.first)
    only_id = fragment_of((await silent(broker, app, response_type="id_token",
                                        nonce="n")).headers["location"])
    assert set(only_id) == {"id_token", "state", "iss"}
    assert "at_hash" not in unverified(only_id["id_token"])
    only_token = fragment_of((await silent(broker, app, response_type="token")
                              ).headers["location"])
    assert {"access_token", "token_type", "expires_in", "scope"} <= set(only_token)
    assert "id_token" not in only_token
    page = await silent(broker, app, response_type="token", response_mode="form_post")
    assert page.status_code == 200 and 'name="access_token"' in page.text


async def test_implicit_needs_opt_in_nonce_and_no_query(broker: Broker, apps: Apps) -> None:
    await broker.login(apps.first)
    refused = query_of((await silent(broker, apps.second, response_type="token id_token",
                                     nonce="n")).headers["location"])
    assert refused["error"] == "unsupported_response_type" and "access_token" not in refused
    app = await implicit_app(broker, apps)
    no_nonce = await silent(broker, app, response_type="id_token token", nonce="")
    assert fragment_of(no_nonce.headers["location"])["error"] == "invalid_request"
    in_query = await silent(broker, app, response_type="token", response_mode="query")
    location = in_query.headers["location"]
    assert query_of(location)["error"] == "invalid_request" and "access_token" not in location
    hybrid = await silent(broker, app, response_type="code id_token")
    assert query_of(hybrid.headers["location"])["error"] == "unsupported_response_type"
