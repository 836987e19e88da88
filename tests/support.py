"""A test driver for the broker: set-up through its own Management API, and a person's
login driven through the real redirects (broker → fake upstream → broker → app)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

from idbroker.bootstrap import ensure_bootstrap_client
from idbroker.encoding import s256
from idbroker.oauth.sessions import SESSION_COOKIE
from idbroker.runtime import Runtime
from tests.fakes.oidc_upstream import FakeOIDCUpstream

ISSUER = "https://idbroker.example.test/"
APP_CALLBACK = "https://app.example.test/callback"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclass
class LoginResult:
    app_redirect: str
    params: dict[str, str]
    code_verifier: str | None
    nonce: str


@dataclass
class Broker:
    runtime: Runtime
    http: httpx.AsyncClient
    upstream: FakeOIDCUpstream
    _admin_token: str | None = None

    # --- Management API -------------------------------------------------------------------

    async def token_for(self, client_id: str, client_secret: str, **extra: str) -> dict[str, Any]:
        response = await self.http.post("/oauth/token", json={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret, "audience": f"{ISSUER}api/v2/", **extra})
        assert response.status_code == 200, response.text
        return response.json()

    async def admin_token(self) -> str:
        if self._admin_token is None:
            client_id, secret = await ensure_bootstrap_client(self.runtime)
            assert secret is not None
            self._admin_token = (await self.token_for(client_id, secret))["access_token"]
        return self._admin_token

    async def mgmt(self, method: str, path: str, token: str | None = None,
                   **kwargs: Any) -> httpx.Response:
        token = token or await self.admin_token()
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await self.http.request(method, f"/api/v2/{path}", headers=headers, **kwargs)

    async def m2m_client(self, scopes: list[str]) -> tuple[str, str]:
        body = (await self.mgmt("POST", "clients", json={
            "name": f"backend-{secrets.token_hex(3)}", "app_type": "non_interactive"})).json()
        response = await self.mgmt("POST", "client-grants", json={
            "client_id": body["client_id"], "audience": f"{ISSUER}api/v2/", "scope": scopes})
        assert response.status_code == 201, response.text
        return body["client_id"], body["client_secret"]

    async def mgmt_token(self, scopes: list[str]) -> str:
        client_id, secret = await self.m2m_client(scopes)
        return (await self.token_for(client_id, secret))["access_token"]

    async def web_app(self, app_type: str = "regular_web", **extra: Any) -> dict[str, Any]:
        response = await self.mgmt("POST", "clients", json={
            "name": "Web app", "app_type": app_type, "callbacks": [APP_CALLBACK],
            "allowed_logout_urls": ["https://app.example.test/"], **extra})
        assert response.status_code == 201, response.text
        return response.json()

    async def oidc_connection(self, enabled_clients: list[str], name: str = "acme-oidc",
                              **options: Any) -> dict[str, Any]:
        response = await self.mgmt("POST", "connections", json={
            "name": name, "strategy": "oidc", "enabled_clients": enabled_clients,
            "options": {"discovery_url": self.upstream.discovery_url,
                        "client_id": self.upstream.client_id,
                        "client_secret": self.upstream.client_secret,
                        "scope": "openid profile email offline_access", **options}})
        assert response.status_code == 201, response.text
        return response.json()

    async def user(self, user_id: str, token: str, **params: str) -> httpx.Response:
        return await self.mgmt("GET", f"users/{quote(user_id, safe='')}", token=token,
                               params=params)

    # --- a person's login -----------------------------------------------------------------

    def authorize_params(self, client: dict[str, Any], connection: str | None = "acme-oidc",
                         pkce: bool = True, **extra: str) -> tuple[dict[str, str], str | None, str]:
        verifier = secrets.token_urlsafe(48) if pkce else None
        nonce = secrets.token_urlsafe(16)
        params = {"response_type": "code", "client_id": client["client_id"],
                  "redirect_uri": APP_CALLBACK, "scope": "openid profile email offline_access",
                  "state": secrets.token_urlsafe(16), "nonce": nonce}
        if connection:
            params["connection"] = connection
        if verifier:
            params.update(code_challenge=s256(verifier), code_challenge_method="S256")
        params.update(extra)
        return params, verifier, nonce

    async def start(self, params: dict[str, str], keep_session: bool = False) -> httpx.Response:
        """GET /authorize. Unless ``keep_session``, the browser first forgets its login
        session, so the request really goes to the login page or the upstream (tests of
        single sign-on keep it: tests/functional/sessions/)."""
        if not keep_session:
            self.forget_session()
        return await self.http.get("/authorize?" + urlencode(params))

    def forget_session(self) -> None:
        for cookie in [c for c in self.http.cookies.jar if c.name == SESSION_COOKIE]:
            self.http.cookies.jar.clear(cookie.domain, cookie.path, cookie.name)

    async def through_upstream(self, response: httpx.Response) -> httpx.Response:
        """Follow the broker's redirect to the upstream; return the upstream's answer."""
        assert response.status_code == 302, response.text
        async with httpx.AsyncClient(transport=self.upstream.transport()) as idp:
            return await idp.get(response.headers["location"])

    async def callback(self, upstream_response: httpx.Response) -> httpx.Response:
        assert upstream_response.status_code in (302, 303), upstream_response.text
        location = upstream_response.headers["location"]
        assert location.startswith(f"{ISSUER}login/callback"), location
        return await self.http.get(location)

    async def login(self, client: dict[str, Any], **extra: str) -> LoginResult:
        params, verifier, nonce = self.authorize_params(client, **extra)
        response = await self.callback(await self.through_upstream(await self.start(params)))
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(APP_CALLBACK), location
        result = query_of(location)
        assert result.get("state") == params["state"]
        return LoginResult(location, result, verifier, nonce)

    async def exchange(self, client: dict[str, Any], login: LoginResult,
                       **overrides: Any) -> httpx.Response:
        body = {"grant_type": "authorization_code", "client_id": client["client_id"],
                "code": login.params["code"], "redirect_uri": APP_CALLBACK}
        if client.get("client_secret"):
            body["client_secret"] = client["client_secret"]
        if login.code_verifier:
            body["code_verifier"] = login.code_verifier
        body.update(overrides)
        return await self.http.post("/oauth/token", json={k: v for k, v in body.items()
                                                          if v is not None})
