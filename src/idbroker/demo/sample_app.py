"""The demo's sample application: a single-page app that signs users in through idbroker with
Auth0's own browser SDK, auth0-spa-js (vendored, unmodified, in ``static/``), and a small
backend that reads the user's IdP tokens.

The page does what any Auth0 SPA does: ``loginWithRedirect`` (code flow with PKCE) to
``/authorize``, ``handleRedirectCallback``, ``getUser`` from the ID token, and silent
authentication in a hidden iframe when the page is reloaded. The backend (``/api/vault``)
takes the SPA's access token, asks idbroker's ``/userinfo`` who it belongs to, then uses the
Management API, as a backend with ``read:user_idp_tokens`` would, to read the user's provider
access token and call the provider's own API with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
SCOPE = "openid profile email"


@dataclass(frozen=True)
class SampleAppConfig:
    app_url: str
    idbroker_issuer: str  # with a trailing slash, like Auth0's: "http://127.0.0.1:8000/"
    client_id: str  # a single-page application: public, no secret
    connection: str
    mgmt_client_id: str
    mgmt_client_secret: str
    mgmt_reader_client_id: str
    mgmt_reader_client_secret: str
    provider_api_url: str
    transport: httpx.AsyncBaseTransport | None = None  # lets tests serve idbroker in-process
    timeout: float = 10.0


class SampleAppError(Exception):
    """A failure the page shows to the user."""

    def __init__(self, error: str, description: str = "", status: int = 502) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status


class SampleApp:
    def __init__(self, cfg: SampleAppConfig) -> None:
        self.cfg = cfg
        self.app_url = cfg.app_url.rstrip("/")
        self.issuer = cfg.idbroker_issuer

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.cfg.transport, timeout=self.cfg.timeout)

    async def page(self, request: Request) -> Response:
        # What spa-js needs: domain without the trailing slash (its expected `iss` is
        # domain + "/"), the client id and the redirect URI registered for the client.
        config = {"domain": self.issuer.rstrip("/"), "clientId": self.cfg.client_id,
                  "redirectUri": f"{self.app_url}/", "connection": self.cfg.connection,
                  "scope": SCOPE, "providerApiUrl": self.cfg.provider_api_url}
        html = _TEMPLATES.get_template("index.html").render(
            config=json.dumps(config).replace("<", "\\u003c"), issuer=self.issuer,
            connection=self.cfg.connection)
        broker = _origin(self.issuer)
        csp = (f"default-src 'self'; connect-src 'self' {broker}; frame-src {broker}; "
               "img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; "
               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": csp})

    async def vault(self, request: Request) -> Response:
        """The backend's view of the signed-in user, as JSON for the page."""
        try:
            return JSONResponse(await self._vault(request.headers.get("authorization", "")),
                                headers={"Cache-Control": "no-store"})
        except SampleAppError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description},
                                status_code=exc.status, headers={"Cache-Control": "no-store"})

    async def _vault(self, authorization: str) -> dict[str, Any]:
        if not authorization.startswith("Bearer "):
            raise SampleAppError("invalid_token", "Sign in first: no access token came.", 401)
        cfg = self.cfg
        async with self.http() as client:
            who = await _send(client, "GET", f"{self.issuer}userinfo",
                              headers={"Authorization": authorization})
            if who.status_code != 200:
                raise SampleAppError("invalid_token", "idbroker did not accept the access "
                                     "token (expired, or signed out?).", 401)
            user_id = _json_or_error(who).get("sub")
            if not isinstance(user_id, str):
                raise SampleAppError("invalid_response", "/userinfo answered without sub.")
            full = await self.read_user(client, cfg.mgmt_client_id, cfg.mgmt_client_secret,
                                        user_id)
            limited = await self.read_user(client, cfg.mgmt_reader_client_id,
                                           cfg.mgmt_reader_client_secret, user_id)
            identities = full.get("identities") or []
            api = await self.call_provider_api(
                client, _idp_access_token(identities, cfg.connection))
        return {
            "user_id": user_id,
            "identities": [_masked(i) for i in identities],
            "reader_identities": [
                {"connection": i.get("connection"), "user_id": i.get("user_id"),
                 "has_access_token": bool(i.get("access_token"))}
                for i in limited.get("identities") or []],
            "api": api,
            "provider_api_url": cfg.provider_api_url,
        }

    # -- idbroker over HTTP ------------------------------------------------

    async def oauth_token(self, client: httpx.AsyncClient, body: dict[str, str]) -> dict[str, Any]:
        response = await _send(client, "POST", f"{self.issuer}oauth/token", json=body)
        return _json_or_error(response)

    async def read_user(
        self, client: httpx.AsyncClient, client_id: str, client_secret: str, user_id: str
    ) -> dict[str, Any]:
        token = await self.oauth_token(
            client,
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
                "audience": f"{self.issuer}api/v2/",
            },
        )
        url = f"{self.issuer}api/v2/users/{quote(user_id, safe='')}"
        headers = {"Authorization": f"Bearer {token.get('access_token', '')}"}
        return _json_or_error(await _send(client, "GET", url, headers=headers))

    async def call_provider_api(
        self, client: httpx.AsyncClient, access_token: str | None
    ) -> dict[str, Any]:
        """The provider's answer, shown as is (even when it is an error)."""
        if not access_token:
            return {"status": None, "body": "No IdP access token was found in the identities."}
        headers = {"Authorization": f"Bearer {access_token}"}
        try:
            response = await client.get(self.cfg.provider_api_url, headers=headers)
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            return {"status": None, "body": f"Could not reach the provider API ({reason})."}
        try:
            body: Any = json.dumps(response.json(), indent=2)
        except ValueError:
            body = response.text
        return {"status": response.status_code, "body": body}


def create_sample_app(cfg: SampleAppConfig) -> Starlette:
    sample = SampleApp(cfg)
    app = Starlette(routes=[
        Route("/", sample.page),
        Route("/api/vault", sample.vault),
        Mount("/static", StaticFiles(directory=STATIC)),
    ])
    app.state.sample = sample
    return app


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        reason = f"{method} {url} failed: {type(exc).__name__}"
        raise SampleAppError("idbroker_unreachable", reason) from exc


def _json_or_error(response: httpx.Response) -> dict[str, Any]:
    """Parse a JSON object; turn error responses (OAuth or Management API style) into errors."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SampleAppError(
            "invalid_response",
            f"idbroker answered HTTP {response.status_code} without a JSON object.",
        )
    if response.status_code >= 400:
        error = body.get("errorCode") or body.get("error") or f"http_{response.status_code}"
        description = body.get("error_description") or body.get("message") or ""
        raise SampleAppError(str(error), str(description))
    return body


def _idp_access_token(identities: list[dict[str, Any]], connection: str) -> str | None:
    preferred = [i for i in identities if i.get("connection") == connection] + identities
    return next((i["access_token"] for i in preferred if i.get("access_token")), None)


def _masked(identity: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (f"{v[:6]}…" if k.endswith(("token", "token_secret")) and isinstance(v, str) else v)
        for k, v in identity.items()
    }


_TEMPLATES = Environment(
    autoescape=True,
    loader=DictLoader(
        {
            "index.html": """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sample app</title><style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
nav a,nav button{margin-right:1rem}.err{color:#a00}.sub{font-size:1.3rem;font-weight:bold}
.btn{display:inline-block;background:#2f5fb5;color:#fff;padding:.6rem 1.2rem;border-radius:6px;
border:0;font-size:1rem;cursor:pointer}code,pre{background:#f3f3f3;padding:.1rem .3rem;
border-radius:4px}pre{padding:.8rem;overflow:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin-bottom:1rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .8rem;text-align:left;vertical-align:top}
nav button{background:none;border:0;color:#00e;text-decoration:underline;cursor:pointer;
font:inherit;padding:0}[hidden]{display:none}
</style>
<script id="config" type="application/json">{{ config|safe }}</script>
<script src="/static/auth0-spa-js.production.js"></script>
<script src="/static/app.js" defer></script>
</head><body>
<nav><a href="#/">Home</a><a href="#/profile">Profile</a><a href="#/vault">Vault</a>
<button id="logout" hidden>Log out</button></nav>
<p id="status" class="muted">Loading…</p>
<section id="home" hidden><h1>Sample app</h1>
<p>This single-page app signs you in through <b>idbroker</b> ({{ issuer }}) with Auth0's own
browser SDK, <code>auth0-spa-js</code>, exactly as it would through Auth0.</p>
<ol><li><b>Sign in</b>: the SDK redirects you to idbroker's <code>/authorize</code> with
<code>connection={{ connection }}</code>, a PKCE challenge, a state and a nonce.</li>
<li>idbroker sends you on to the upstream identity provider, where you pick a demo user.</li>
<li>idbroker exchanges the provider's code, normalizes your profile, keeps the provider's
tokens in its vault and sends you back here; the SDK exchanges its own code at
<code>/oauth/token</code>. Reload the page: the SDK signs you in again silently, in a hidden
iframe, with idbroker's session.</li>
<li>On <a href="#/vault">Vault</a>, the app's backend reads your identity through the Management
API and calls the provider's own API with the stored provider access token.</li></ol>
<p id="signed-in-as" hidden></p>
<p><button class="btn" id="login" hidden>Sign in</button></p></section>
<section id="profile" hidden><h1>Your profile</h1>
<p>user_id (<code>sub</code>): <span class="sub" id="user-id"></span></p>
<table id="claims"></table><p><a href="#/vault">Next: the token vault &rarr;</a></p></section>
<section id="vault" hidden><h1>Token vault</h1>
<p>The app's backend read <code>GET /api/v2/users/<span class="vault-user"></span></code> with a
client granted <code>read:user_idp_tokens</code>:</p><div id="identities"></div>
<h2>The provider's API</h2><p><code id="api-url"></code> with the provider access token
<span id="api-status"></span>:</p><pre id="api-body"></pre>
<h2>Without <code>read:user_idp_tokens</code></h2>
<p>The same read by a client whose grant lacks that scope:</p><ul id="reader"></ul></section>
<section id="problem" hidden><h1>Sign-in problem</h1><p class="err"><code id="problem-error">
</code></p><p id="problem-description"></p><p><a href="#/">Back to the start</a></p></section>
</body></html>""",
        }
    ),
)
