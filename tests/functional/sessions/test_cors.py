"""CORS on the endpoints browser apps call with fetch: /oauth/token, /oauth/revoke and
/userinfo. Only an exact web origin of a client is ever named; nothing allows credentials."""

from __future__ import annotations

import pytest

from tests.functional.sessions.conftest import WEB_ORIGIN, Apps
from tests.support import Broker

OTHER_ORIGIN = "https://other-app.example.test"


def preflight_headers(origin: str, method: str = "POST") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,auth0-client"}


@pytest.mark.parametrize("path,method", [("/oauth/token", "POST"), ("/oauth/revoke", "POST"),
                                         ("/userinfo", "GET")])
async def test_preflight_names_only_registered_origins(broker: Broker, apps: Apps, path: str,
                                                       method: str) -> None:
    ok = await broker.http.options(path, headers=preflight_headers(WEB_ORIGIN, method))
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert method in ok.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in ok.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "auth0-client", "authorization", "dpop"} <= allowed
    assert "access-control-allow-credentials" not in ok.headers
    assert "origin" in ok.headers["vary"].lower()
    for origin in ("https://app.example.test:444", "http://app.example.test",
                   "https://app.example.test.evil.test", "https://evil.test", "null",
                   "https://APP.example.test"):
        refused = await broker.http.options(path, headers=preflight_headers(origin, method))
        assert "access-control-allow-origin" not in refused.headers, origin
        assert "origin" in refused.headers["vary"].lower()


async def test_token_response_names_the_origin_only_for_its_own_client(broker: Broker,
                                                                      apps: Apps) -> None:
    other = await broker.web_app(app_type="spa", web_origins=[OTHER_ORIGIN])
    body = {"grant_type": "authorization_code", "client_id": apps.second["client_id"],
            "code": "not-a-code", "redirect_uri": "https://app.example.test/callback",
            "code_verifier": "x" * 43}
    own = await broker.http.post("/oauth/token", data=body, headers={"Origin": WEB_ORIGIN})
    # Errors too: the app's page must be able to read error and error_description.
    assert own.status_code == 400 and own.json()["error"] == "invalid_grant"
    assert own.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert "access-control-allow-credentials" not in own.headers
    assert own.headers["vary"] == "Origin"
    # An origin of another client is allowed by the preflight, but not for this client.
    foreign = await broker.http.post("/oauth/token", data=body, headers={"Origin": OTHER_ORIGIN})
    assert "access-control-allow-origin" not in foreign.headers
    assert other["client_id"] != apps.second["client_id"]
    revoke = await broker.http.post("/oauth/revoke", data={
        "client_id": apps.second["client_id"], "token": "nothing"},
        headers={"Origin": WEB_ORIGIN})
    assert revoke.status_code == 200
    assert revoke.headers["access-control-allow-origin"] == WEB_ORIGIN
    foreign = await broker.http.post("/oauth/revoke", data={
        "client_id": apps.second["client_id"], "token": "nothing"},
        headers={"Origin": OTHER_ORIGIN})
    assert "access-control-allow-origin" not in foreign.headers


async def test_userinfo_and_public_documents(broker: Broker, apps: Apps) -> None:
    login = await broker.login(apps.first)
    access = (await broker.exchange(apps.first, login)).json()["access_token"]
    info = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {access}", "Origin": WEB_ORIGIN})
    assert info.status_code == 200 and info.headers["access-control-allow-origin"] == WEB_ORIGIN
    denied = await broker.http.get("/userinfo", headers={"Origin": WEB_ORIGIN})
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == WEB_ORIGIN
    stranger = await broker.http.get("/userinfo", headers={
        "Authorization": f"Bearer {access}", "Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in stranger.headers
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration"):
        assert (await broker.http.get(path)).headers["access-control-allow-origin"] == "*"
