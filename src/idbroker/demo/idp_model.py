"""State and protocol logic of the demo upstream OpenID Connect provider.

The dataclasses describing clients, users, grants, codes and tokens, the defect
injection hooks, and :class:`DemoIdp`, which holds the in-memory stores and
implements the endpoints' behaviour. The Starlette app lives in
:mod:`idbroker.demo.upstream_idp`; the HTML pages in :mod:`idbroker.demo.idp_pages`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from idbroker.demo.idp_pages import render

CODE_TTL = 60
ID_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 30 * 24 * 3600
PROFILE_CLAIMS = ("name", "given_name", "family_name", "nickname", "picture")
EMAIL_CLAIMS = ("email", "email_verified")
AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "login_hint",
    "access_type",
)
_CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class DemoClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]


@dataclass(frozen=True)
class DemoUser:
    sub: str
    email: str
    email_verified: bool
    name: str
    given_name: str
    family_name: str
    nickname: str
    picture: str


def _gravatar(email: str) -> str:
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?d=identicon&s=96"


DEFAULT_DEMO_USERS: tuple[DemoUser, ...] = tuple(
    DemoUser(sub, email, verified, f"{given} {family}", given, family, sub, _gravatar(email))
    for sub, email, verified, given, family in [
        ("alice", "alice@example.com", True, "Alice", "Martin"),
        ("bob", "bob@example.com", True, "Bob", "Chen"),
        ("carol", "carol@example.com", False, "Carol", "Diaz"),  # unverified e-mail on purpose
    ]
)


@dataclass
class IdpHooks:
    """Defect injection for tests, read at request time so it may change between steps."""

    id_token_claims: dict[str, Any] = field(default_factory=dict)  # a None value removes
    id_token_alg: str | None = None  # "none" → unsigned, "HS256" → HMAC with client secret
    sign_with_foreign_key: bool = False
    id_token_kid: str | None = None
    token_status: int | None = None
    token_body: str | None = None
    token_content_type: str | None = None
    token_error: str | None = None
    token_delay: float = 0.0
    token_type: str | None = None
    omit_refresh_token: bool = False
    omit_expires_in: bool = False
    userinfo_claims: dict[str, Any] = field(default_factory=dict)
    userinfo_status: int | None = None
    authorize_iss: str | None = None  # "" removes the iss parameter

    def reset(self) -> None:
        """Restore every hook to its no-op default, in place."""
        for f in fields(self):
            setattr(self, f.name, getattr(IdpHooks(), f.name))


@dataclass
class DemoIdpConfig:
    issuer: str
    clients: Sequence[DemoClient]
    users: Sequence[DemoUser]
    auto_approve: str | None = None
    access_token_ttl: int = 3600
    hooks: IdpHooks | None = None


@dataclass
class Grant:
    """What a user approved for a client; codes and tokens of one grant share its id."""

    client_id: str
    sub: str
    scope: list[str]
    auth_time: int
    id: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass
class AuthorizationCode:
    grant: Grant
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    offline: bool
    expires_at: int


@dataclass
class IssuedToken:
    value: str
    kind: str  # "access_token" or "refresh_token"
    grant: Grant
    scope: list[str]
    iat: int
    exp: int
    revoked: bool = False


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        headers = dict(_NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="demo-idp"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


class _PageError(Exception):
    """An authorization request that must not be redirected (bad client or redirect_uri)."""


@dataclass
class _RedirectError(Exception):
    """An authorization error reported to the client through its redirect_uri."""

    redirect_uri: str
    state: str | None
    error: str
    description: str


@dataclass
class _AuthRequest:
    client: DemoClient
    redirect_uri: str
    params: dict[str, str]
    scope: list[str]

    @property
    def state(self) -> str | None:
        return self.params.get("state")


class DemoIdp:
    """One provider instance: configuration, signing key, in-memory stores and counters."""

    def __init__(self, config: DemoIdpConfig) -> None:
        self.config = config
        self.hooks = config.hooks if config.hooks is not None else IdpHooks()
        self.clients: dict[str, DemoClient] = {c.client_id: c for c in config.clients}
        self.users: dict[str, DemoUser] = {u.sub: u for u in config.users}
        self.key = _generate_key()
        self.kid = str(self.key.kid)
        self.calls: Counter[str] = Counter()
        self.issued: list[dict[str, Any]] = []  # every successful token response body
        self.codes: dict[str, AuthorizationCode] = {}
        self.used_codes: dict[str, Grant] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.clock: Callable[[], float] = time.time  # tests may replace it to expire things
        self._foreign_key: RSAKey | None = None

    @property
    def issuer(self) -> str:
        return self.config.issuer

    def url(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    def now(self) -> int:
        return int(self.clock())

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/authorize"),
            "token_endpoint": self.url("/token"),
            "userinfo_endpoint": self.url("/userinfo"),
            "jwks_uri": self.url("/jwks"),
            "revocation_endpoint": self.url("/revoke"),
            "introspection_endpoint": self.url("/introspect"),
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": _CLIENT_AUTH,
            "revocation_endpoint_auth_methods_supported": _CLIENT_AUTH,
            "introspection_endpoint_auth_methods_supported": _CLIENT_AUTH,
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                *PROFILE_CLAIMS,
                *EMAIL_CLAIMS,
            ],
            "authorization_response_iss_parameter_supported": True,
        }

    # -- authorization endpoint --------------------------------------------

    def authorize(
        self,
        items: Iterable[tuple[str, str]],
        status: int,
        chosen_sub: str | None = None,
        deny: bool = False,
    ) -> Response:
        try:
            req = self.validate_authorize(items)
        except _PageError as exc:
            return render("error.html", 400, message=str(exc))
        except _RedirectError as exc:
            return self.redirect_error(
                exc.redirect_uri, exc.state, exc.error, exc.description, status
            )
        sub = chosen_sub or self.config.auto_approve
        if deny or (sub is not None and sub not in self.users):
            return self.redirect_error(
                req.redirect_uri, req.state, "access_denied", "The user denied the request.", status
            )
        if sub is None and "none" in req.params.get("prompt", "").split():
            return self.redirect_error(
                req.redirect_uri, req.state, "login_required", "No user is signed in.", status
            )
        if sub is None:
            return render(
                "login.html",
                200,
                req=req,
                users=self.users.values(),
                hint=req.params.get("login_hint"),
                action=self.url("/authorize/decision"),
            )
        code = self.new_code(req, sub)
        return self.redirect(req.redirect_uri, {"code": code, "state": req.state}, status)

    def validate_authorize(self, items: Iterable[tuple[str, str]]) -> _AuthRequest:
        params, duplicated = _single_values(items)
        client = self.clients.get(params.get("client_id", ""))
        if client is None or "client_id" in duplicated:
            raise _PageError("Unknown or missing client_id.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris or "redirect_uri" in duplicated:
            raise _PageError("The redirect_uri is missing or not registered for this client.")
        state, scope = params.get("state"), _split_scope(params.get("scope", ""))
        problem = _authorize_problem(params, duplicated, scope)
        if problem is not None:
            raise _RedirectError(redirect_uri, state, *problem)
        kept = {k: v for k, v in params.items() if k in AUTHORIZE_PARAMS}
        return _AuthRequest(client, redirect_uri, kept, scope)

    def new_code(self, req: _AuthRequest, sub: str) -> str:
        now, value = self.now(), secrets.token_urlsafe(32)
        offline = "offline_access" in req.scope or req.params.get("access_type") == "offline"
        grant = Grant(req.client.client_id, sub, req.scope, auth_time=now)
        self.codes[value] = AuthorizationCode(
            grant,
            req.redirect_uri,
            req.params["code_challenge"],
            req.params.get("nonce"),
            offline,
            now + CODE_TTL,
        )
        return value

    def redirect_error(
        self, uri: str, state: str | None, error: str, description: str, status: int
    ) -> RedirectResponse:
        params = {"error": error, "error_description": description, "state": state}
        return self.redirect(uri, params, status)

    def redirect(self, uri: str, params: dict[str, str | None], status: int) -> RedirectResponse:
        iss = self.issuer if self.hooks.authorize_iss is None else self.hooks.authorize_iss
        query = urlencode({k: v for k, v in {**params, "iss": iss}.items() if v})
        parts = urlsplit(uri)
        merged = f"{parts.query}&{query}" if parts.query else query
        return RedirectResponse(urlunsplit(parts._replace(query=merged)), status_code=status)

    # -- token endpoint ----------------------------------------------------

    def authenticate_client(self, request: Request, form: dict[str, str]) -> DemoClient:
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is None:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
        elif "client_secret" in form:
            raise OAuthError("invalid_request", "Use only one client authentication method.")
        else:
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_request", "client_id does not match the credentials.")
        client = self.clients.get(client_id)
        if client is None or secret is None or not _same(secret, client.client_secret):
            raise OAuthError("invalid_client", "Client authentication failed.", 401)
        return client

    def exchange_code(self, client: DemoClient, form: dict[str, str]) -> dict[str, Any]:
        value, redirect_uri = _required(form, "code"), _required(form, "redirect_uri")
        code = self.codes.pop(value, None)
        if code is None:
            if value in self.used_codes:  # RFC 6749 §4.1.2: a replayed code revokes its tokens
                self.revoke_grant(self.used_codes[value])
            raise OAuthError("invalid_grant", "The code is invalid, expired or already used.")
        self.used_codes[value] = code.grant
        if code.expires_at <= self.now():
            raise OAuthError("invalid_grant", "The authorization code has expired.")
        if code.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "The code was issued to another client.")
        if code.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization.")
        if not _pkce_matches(form.get("code_verifier"), code.code_challenge):
            raise OAuthError("invalid_grant", "PKCE verification failed.")
        return self.issue(client, code.grant, code.grant.scope, code.nonce, refresh=code.offline)

    def refresh(self, client: DemoClient, form: dict[str, str]) -> dict[str, Any]:
        old = self.tokens.get(_required(form, "refresh_token"))
        if old is None or old.kind != "refresh_token" or not self.is_active(old):
            raise OAuthError("invalid_grant", "The refresh token is invalid, expired or used.")
        if old.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "The refresh token was issued to another client.")
        scope = _split_scope(form["scope"]) if form.get("scope") else old.grant.scope
        if not set(scope) <= set(old.grant.scope):
            raise OAuthError("invalid_scope", "The requested scope exceeds the original grant.")
        old.revoked = True  # rotation: every refresh token is single-use
        return self.issue(client, old.grant, scope, nonce=None, refresh=True)

    def issue(
        self, client: DemoClient, grant: Grant, scope: list[str], nonce: str | None, refresh: bool
    ) -> dict[str, Any]:
        now, ttl = self.now(), self.config.access_token_ttl
        access = self.store("access_token", grant, scope, now + ttl)
        body: dict[str, Any] = {
            "access_token": access.value,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(scope),
            "id_token": self.id_token(client, grant, scope, nonce, access.value),
        }
        if refresh:  # RFC 6749 §6: the refresh token keeps the whole original scope
            body["refresh_token"] = self.store(
                "refresh_token", grant, grant.scope, now + REFRESH_TOKEN_TTL
            ).value
        return body

    def store(self, kind: str, grant: Grant, scope: list[str], exp: int) -> IssuedToken:
        token = IssuedToken(secrets.token_urlsafe(32), kind, grant, list(scope), self.now(), exp)
        self.tokens[token.value] = token
        return token

    def id_token(
        self,
        client: DemoClient,
        grant: Grant,
        scope: list[str],
        nonce: str | None,
        access_token: str,
    ) -> str:
        now = self.now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.sub,
            "aud": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL,
            "auth_time": grant.auth_time,
            "at_hash": _b64(hashlib.sha256(access_token.encode()).digest()[:16]),
        }
        if nonce:
            claims["nonce"] = nonce
        claims.update(self.user_claims(grant.sub, scope))
        return self.sign(_merge(claims, self.hooks.id_token_claims), client)

    def sign(self, claims: dict[str, Any], client: DemoClient) -> str:
        alg = self.hooks.id_token_alg or "RS256"
        header: dict[str, Any] = {"typ": "JWT", "alg": alg}
        if alg == "none":
            return f"{_b64json(header)}.{_b64json(claims)}."
        if alg.startswith("HS"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a weak shared secret is the injected defect
                return jwt.encode(
                    header, claims, OctKey.import_key(client.client_secret), algorithms=[alg]
                )
        header["kid"] = self.hooks.id_token_kid or self.kid
        key = self.key
        if self.hooks.sign_with_foreign_key:
            self._foreign_key = key = self._foreign_key or _generate_key()
        return jwt.encode(header, claims, key, algorithms=[alg])

    def user_claims(self, sub: str, scope: list[str]) -> dict[str, Any]:
        user = self.users.get(sub)
        if user is None:
            return {}
        names = (PROFILE_CLAIMS if "profile" in scope else ()) + (
            EMAIL_CLAIMS if "email" in scope else ()
        )
        return {name: getattr(user, name) for name in names}

    # -- token lifecycle ---------------------------------------------------

    def is_active(self, token: IssuedToken) -> bool:
        return not token.revoked and token.exp > self.now()

    def active_access_token(self, value: str) -> IssuedToken | None:
        token = self.tokens.get(value)
        if token is None or token.kind != "access_token" or not self.is_active(token):
            return None
        return token

    def revoke(self, client: DemoClient, value: str) -> None:
        token = self.tokens.get(value)
        if token is None:
            return  # RFC 7009 §2.2: unknown tokens are not an error
        if token.grant.client_id != client.client_id:
            raise OAuthError("invalid_request", "The token was issued to another client.")
        if token.kind == "refresh_token":
            self.revoke_grant(token.grant)
        else:
            token.revoked = True

    def revoke_grant(self, grant: Grant) -> None:
        for token in self.tokens.values():
            if token.grant.id == grant.id:
                token.revoked = True

    def introspect(self, value: str) -> dict[str, Any]:
        token = self.tokens.get(value)
        if token is None or not self.is_active(token):
            return {"active": False}
        return {
            "active": True,
            "scope": " ".join(token.scope),
            "client_id": token.grant.client_id,
            "sub": token.grant.sub,
            "exp": token.exp,
            "iat": token.iat,
            "iss": self.issuer,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
        }


# -- helpers ----------------------------------------------------------------


def _authorize_problem(
    params: dict[str, str], duplicated: set[str], scope: list[str]
) -> tuple[str, str] | None:
    """The (error, description) to redirect with, once client and redirect_uri are trusted."""
    prompt = set(params.get("prompt", "").split())
    checks = [
        (bool(duplicated), "invalid_request", f"Repeated parameters: {sorted(duplicated)}"),
        (
            params.get("response_type") != "code",
            "unsupported_response_type",
            "Only response_type=code is supported.",
        ),
        ("openid" not in scope, "invalid_scope", "The scope must include openid."),
        (not params.get("code_challenge"), "invalid_request", "PKCE is required (code_challenge)."),
        (
            params.get("code_challenge_method") != "S256",
            "invalid_request",
            "code_challenge_method must be S256.",
        ),
        (
            not _S256_CHALLENGE.fullmatch(params.get("code_challenge", "")),
            "invalid_request",
            "code_challenge is not a valid S256 challenge.",
        ),
        (
            "none" in prompt and len(prompt) > 1,
            "invalid_request",
            "prompt=none cannot be combined with other values.",
        ),
    ]
    return next(((error, text) for failed, error, text in checks if failed), None)


def _generate_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


def _single_values(items: Iterable[tuple[str, str]]) -> tuple[dict[str, str], set[str]]:
    params: dict[str, str] = {}
    duplicated: set[str] = set()
    for key, value in items:
        if key in params:
            duplicated.add(key)
        params.setdefault(key, value)
    return params, duplicated


def _required(form: dict[str, str], name: str) -> str:
    if not form.get(name):
        raise OAuthError("invalid_request", f"Missing parameter: {name}")
    return form[name]


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Malformed Basic credentials.", 401)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before the base64 encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def _merge(claims: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**claims, **overrides}
    return {k: v for k, v in merged.items() if v is not None}


def _split_scope(scope: str) -> list[str]:
    return list(dict.fromkeys(scope.split()))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _pkce_matches(verifier: str | None, challenge: str) -> bool:
    if not verifier or not _PKCE_VERIFIER.fullmatch(verifier):
        return False
    return _same(_b64(hashlib.sha256(verifier.encode()).digest()), challenge)
