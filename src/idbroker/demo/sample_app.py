"""The demo's sample application: a regular web app that signs users in through idbroker.

It talks to idbroker only over HTTP, with Auth0's wire contracts, as an Auth0 SDK would:
``/authorize`` + ``/oauth/token`` (code flow with PKCE), ID token verification against
``/.well-known/jwks.json``, and the Management API to read the user's IdP tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlencode

import httpx
from jinja2 import DictLoader, Environment
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

SCOPE = "openid profile email offline_access"
COOKIE_NAME = "sample_session"
SESSION_TTL = 8 * 3600
PROTOCOL_CLAIMS = {
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "at_hash",
    "c_hash",
    "auth_time",
    "azp",
    "sid",
    "jti",
}


@dataclass(frozen=True)
class SampleAppConfig:
    app_url: str
    idbroker_issuer: str  # with a trailing slash, like Auth0's: "http://127.0.0.1:8000/"
    client_id: str
    client_secret: str
    connection: str
    mgmt_client_id: str
    mgmt_client_secret: str
    mgmt_reader_client_id: str
    mgmt_reader_client_secret: str
    provider_api_url: str
    transport: httpx.AsyncBaseTransport | None = None  # lets tests serve idbroker in-process
    timeout: float = 10.0


class SampleAppError(Exception):
    """A failure shown to the user on a friendly page."""

    def __init__(self, error: str, description: str = "", status: int = 502) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status


class SignedCookie:
    """A tiny HMAC-SHA256 signed, expiring JSON cookie (the key lives only in this process)."""

    def __init__(self, key: bytes, secure: bool) -> None:
        self._key, self._secure = key, secure

    def load(self, request: Request) -> dict[str, Any]:
        payload, _, signature = request.cookies.get(COOKIE_NAME, "").partition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return {}
        try:
            data = json.loads(_b64decode(payload))
        except ValueError:
            return {}
        return data if isinstance(data, dict) and data.get("exp", 0) > time.time() else {}

    def save(self, response: Response, data: dict[str, Any]) -> None:
        payload = _b64(json.dumps({**data, "exp": int(time.time()) + SESSION_TTL}).encode())
        response.set_cookie(
            COOKIE_NAME,
            f"{payload}.{self._sign(payload)}",
            max_age=SESSION_TTL,
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE_NAME, httponly=True, samesite="lax", secure=self._secure)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


class SampleApp:
    """Request handlers; ``cfg`` URLs are used exactly as an Auth0 tenant's would be."""

    def __init__(self, cfg: SampleAppConfig) -> None:
        self.cfg = cfg
        self.app_url = cfg.app_url.rstrip("/")
        self.issuer = cfg.idbroker_issuer
        self.session = SignedCookie(secrets.token_bytes(32), cfg.app_url.startswith("https:"))

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.cfg.transport, timeout=self.cfg.timeout)

    async def home(self, request: Request) -> Response:
        user = self.session.load(request).get("user")
        return _render("home.html", user=user, issuer=self.issuer, connection=self.cfg.connection)

    async def login(self, request: Request) -> Response:
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        params = {
            "response_type": "code",
            "client_id": self.cfg.client_id,
            "redirect_uri": f"{self.app_url}/callback",
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "connection": self.cfg.connection,
        }
        response = RedirectResponse(f"{self.issuer}authorize?{urlencode(params)}", 302)
        pending = {"state": state, "nonce": nonce, "verifier": verifier}
        self.session.save(response, {"login": pending})
        return response

    async def callback(self, request: Request) -> Response:
        query = request.query_params
        if "error" in query:
            raise SampleAppError(query["error"], query.get("error_description", ""), 400)
        pending = self.session.load(request).get("login") or {}
        if not pending or not hmac.compare_digest(query.get("state", ""), pending["state"]):
            raise SampleAppError("invalid_state", "This sign-in was not started here (state).", 400)
        if "iss" in query and query["iss"] != self.issuer:  # RFC 9207 mix-up defence
            raise SampleAppError("invalid_issuer", "The callback's iss is not idbroker's.", 400)
        if not query.get("code"):
            raise SampleAppError("invalid_request", "The callback carries no code.", 400)
        async with self.http() as client:
            tokens = await self.oauth_token(
                client,
                {
                    "grant_type": "authorization_code",
                    "client_id": self.cfg.client_id,
                    "client_secret": self.cfg.client_secret,
                    "code": query["code"],
                    "redirect_uri": f"{self.app_url}/callback",
                    "code_verifier": pending["verifier"],
                },
            )
            claims = await self.verify_id_token(client, tokens.get("id_token"), pending["nonce"])
        response = RedirectResponse(f"{self.app_url}/profile", 303)
        profile = {k: v for k, v in claims.items() if k not in PROTOCOL_CLAIMS}
        self.session.save(response, {"user": profile})
        return response

    async def profile(self, request: Request) -> Response:
        user = self.session.load(request).get("user")
        if not user:
            return RedirectResponse(f"{self.app_url}/", 303)
        return _render("profile.html", user=user)

    async def vault(self, request: Request) -> Response:
        user = self.session.load(request).get("user")
        if not user:
            return RedirectResponse(f"{self.app_url}/", 303)
        async with self.http() as client:
            cfg = self.cfg
            full = await self.read_user(
                client, cfg.mgmt_client_id, cfg.mgmt_client_secret, user["sub"]
            )
            limited = await self.read_user(
                client, cfg.mgmt_reader_client_id, cfg.mgmt_reader_client_secret, user["sub"]
            )
            identities = full.get("identities") or []
            idp_token = _idp_access_token(identities, cfg.connection)
            api = await self.call_provider_api(client, idp_token)
        return _render(
            "vault.html",
            user=user,
            identities=[_masked(i) for i in identities],
            reader_identities=limited.get("identities") or [],
            api=api,
            provider_api_url=self.cfg.provider_api_url,
        )

    async def logout(self, request: Request) -> Response:
        params = urlencode({"client_id": self.cfg.client_id, "returnTo": f"{self.app_url}/"})
        response = RedirectResponse(f"{self.issuer}v2/logout?{params}", 302)
        self.session.clear(response)
        return response

    # -- idbroker over HTTP ------------------------------------------------

    async def oauth_token(self, client: httpx.AsyncClient, body: dict[str, str]) -> dict[str, Any]:
        response = await _send(client, "POST", f"{self.issuer}oauth/token", json=body)
        return _json_or_error(response)

    async def verify_id_token(
        self, client: httpx.AsyncClient, id_token: Any, nonce: str
    ) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise SampleAppError("invalid_id_token", "The token response has no id_token.")
        jwks = _json_or_error(await _send(client, "GET", f"{self.issuer}.well-known/jwks.json"))
        registry = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.cfg.client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            keys = KeySet.import_key_set(cast(KeySetSerialization, jwks))
            token = jwt.decode(id_token, keys, algorithms=["RS256"])
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise SampleAppError("invalid_id_token", f"ID token rejected: {exc}") from exc
        return dict(token.claims)

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
    routes = [
        Route("/", sample.home),
        Route("/login", sample.login),
        Route("/callback", sample.callback),
        Route("/profile", sample.profile),
        Route("/vault", sample.vault),
        Route("/logout", sample.logout),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={SampleAppError: _error_page, Exception: _unexpected_error_page},
    )
    app.state.sample = sample
    return app


async def _error_page(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, SampleAppError):
        return await _unexpected_error_page(request, exc)
    return _render("error.html", exc.status, error=exc.error, description=exc.description)


async def _unexpected_error_page(request: Request, exc: Exception) -> Response:
    return _render(
        "error.html",
        500,
        error="unexpected_error",
        description="Something went wrong in the sample app.",
    )


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


_TEMPLATES = Environment(
    autoescape=True,
    loader=DictLoader(
        {
            "base.html": """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sample app</title><style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
nav a{margin-right:1rem}.err{color:#a00}.sub{font-size:1.3rem;font-weight:bold}
.btn{display:inline-block;background:#2f5fb5;color:#fff;padding:.6rem 1.2rem;border-radius:6px;
text-decoration:none}code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:4px}
pre{padding:.8rem;overflow:auto}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:.3rem .8rem;text-align:left}
</style></head><body><nav><a href="/">Home</a><a href="/profile">Profile</a>
<a href="/vault">Vault</a><a href="/logout">Log out</a></nav>
{% block main %}{% endblock %}</body></html>""",
            "home.html": """{% extends "base.html" %}{% block main %}<h1>Sample app</h1>
<p>This app signs you in through <b>idbroker</b> ({{ issuer }}) exactly as it would through
Auth0.</p>
<ol><li><b>Sign in</b>: the app redirects you to idbroker's <code>/authorize</code> with
<code>connection={{ connection }}</code>, a PKCE challenge, a state and a nonce.</li>
<li>idbroker sends you on to the upstream identity provider, where you pick a demo user.</li>
<li>idbroker exchanges the provider's code, normalizes your profile, keeps the provider's
tokens in its vault and sends you back here; the app exchanges its own code at
<code>/oauth/token</code> and verifies the ID token with idbroker's JWKS.</li>
<li>On <a href="/vault">Vault</a>, the app's backend reads your identity through the Management
API and calls the provider's own API with the stored provider access token.</li></ol>
{% if user %}<p>Signed in as <b>{{ user.name or user.sub }}</b> &mdash;
<a href="/profile">see profile</a>.</p>
{% else %}<p><a class="btn" href="/login">Sign in</a></p>{% endif %}{% endblock %}""",
            "profile.html": """{% extends "base.html" %}{% block main %}<h1>Your profile</h1>
<p>user_id (<code>sub</code>): <span class="sub">{{ user.sub }}</span></p>
{% if user.picture %}<img src="{{ user.picture }}" alt="" width="64" height="64">{% endif %}
<table>{% for name, value in user|dictsort %}<tr><th>{{ name }}</th><td>{{ value|display }}</td></tr>
{% endfor %}</table><p><a href="/vault">Next: the token vault &rarr;</a></p>{% endblock %}""",
            "vault.html": """{% extends "base.html" %}{% block main %}<h1>Token vault</h1>
<p>Read with <code>GET /api/v2/users/{{ user.sub }}</code> by a client granted
<code>read:user_idp_tokens</code>:</p>
{% for identity in identities %}<table>{% for name, value in identity|dictsort %}
<tr><th>{{ name }}</th><td>{{ value|display }}</td></tr>{% endfor %}</table><br>{% endfor %}
<h2>The provider's API</h2><p><code>GET {{ provider_api_url }}</code> with the provider access token
{% if api.status %}answered HTTP {{ api.status }}{% endif %}:</p><pre>{{ api.body }}</pre>
<h2>Without <code>read:user_idp_tokens</code></h2>
<p>The same read by a client whose grant lacks that scope:</p><ul>
{% for identity in reader_identities %}<li>{{ identity.connection }} / {{ identity.user_id }}:
<code>access_token</code> {% if identity.access_token %}
<span class="err">is present (unexpected!)</span>
{% else %}is absent, as it should be{% endif %}</li>{% endfor %}</ul>{% endblock %}""",
            "error.html": """{% extends "base.html" %}{% block main %}<h1>Sign-in problem</h1>
<p class="err"><code>{{ error }}</code></p>{% if description %}<p>{{ description }}</p>{% endif %}
<p><a href="/">Back to the start</a></p>{% endblock %}""",
        }
    ),
)

_TEMPLATES.filters["display"] = lambda value: value if isinstance(value, str) else json.dumps(value)


def _render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
