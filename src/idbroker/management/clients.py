"""/api/v2/clients: applications. A client secret is shown once, when it is created, and is
kept only as a keyed digest afterwards."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idbroker.clock import iso_ms
from idbroker.errors import BadRequest, NotFound
from idbroker.ids import new_id
from idbroker.management.validation import parse
from idbroker.vault.records import Client
from idbroker.vault.store import Store

AppType = Literal["spa", "native", "regular_web", "non_interactive"]
AuthMethod = Literal["none", "client_secret_post", "client_secret_basic"]
GrantType = Literal[
    "authorization_code", "refresh_token", "client_credentials",
    # The legacy implicit flow at /authorize (docs/sessions.md#implicit-flow); never a default.
    "implicit",
    # Token exchange for IdP access tokens (oauth/grants/token_exchange.py); never a default.
    "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
]

DEFAULTS: dict[str, tuple[str, list[str]]] = {
    "spa": ("none", ["authorization_code", "refresh_token"]),
    "native": ("none", ["authorization_code", "refresh_token"]),
    "regular_web": ("client_secret_post", ["authorization_code", "refresh_token",
                                           "client_credentials"]),
    "non_interactive": ("client_secret_post", ["client_credentials"]),
}


def _check_urls(urls: list[str]) -> list[str]:
    for url in urls:
        parts = urlsplit(url)
        if not parts.scheme or parts.fragment or "*" in url or len(url) > 2048:
            raise ValueError(f"{url!r} must be an absolute URL without fragment or wildcard")
        if parts.scheme in ("http", "https") and not parts.netloc:
            raise ValueError(f"{url!r} has no host")
        if parts.scheme.lower() in ("javascript", "data", "vbscript", "file"):
            raise ValueError(f"{url!r} uses a forbidden scheme")
    return urls


# Auth0 client properties that existing code commonly sends and that have no effect here;
# they are accepted and ignored so that such code runs unchanged. Anything else is refused.
IGNORED_AUTH0_FIELDS = frozenset({
    "logo_uri", "oidc_conformant", "jwt_configuration", "allowed_origins", "initiate_login_uri",
    "sso", "sso_disabled", "cross_origin_auth", "cross_origin_authentication",
    "custom_login_page_on", "client_metadata", "refresh_token", "organization_usage",
    "organization_require_behavior", "is_token_endpoint_ip_header_trusted", "client_aliases",
    "allowed_clients", "native_social_login", "mobile", "addons",
})


class TokenExchange(BaseModel):
    """Auth0's client ``token_exchange`` object; ``allowed_connections`` is idbroker's
    per-client allow-list for IdP-token exchange (docs/token-exchange.md). Auth0's
    ``allow_any_profile_of_type`` is accepted and has no effect."""

    model_config = ConfigDict(extra="forbid")
    allowed_connections: list[Annotated[str, Field(
        min_length=1, max_length=128, pattern=r"^[A-Za-z0-9](-?[A-Za-z0-9])*$")]] = \
        Field(default=[], max_length=100)
    allow_any_profile_of_type: list[str] | None = None


class ClientChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in IGNORED_AUTH0_FIELDS}
        return data

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    callbacks: list[str] | None = None
    allowed_logout_urls: list[str] | None = None
    web_origins: list[str] | None = None
    grant_types: list[GrantType] | None = None
    token_endpoint_auth_method: AuthMethod | None = None
    is_first_party: bool | None = None
    token_exchange: TokenExchange | None = None

    _urls = field_validator("callbacks", "allowed_logout_urls", "web_origins")(
        lambda v: None if v is None else _check_urls(v))


class ClientCreate(ClientChanges):
    name: str = Field(min_length=1, max_length=200)
    app_type: AppType = "regular_web"


def render(client: Client, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": client.client_id, "name": client.name, "description": client.description,
        "app_type": client.app_type, "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "callbacks": client.callbacks, "allowed_logout_urls": client.allowed_logout_urls,
        "web_origins": client.web_origins, "grant_types": client.grant_types,
        "is_first_party": client.is_first_party, "created_at": iso_ms(client.created_at),
        "token_exchange": {"allowed_connections": client.token_exchange_connections},
    }
    if secret is not None:
        body["client_secret"] = secret
    return body


async def create(store: Store, body: Any) -> dict[str, Any]:
    req = parse(ClientCreate, body)
    method, grants = DEFAULTS[req.app_type]
    method = req.token_endpoint_auth_method or method
    secret = None if method == "none" else secrets.token_urlsafe(48)
    client = await store.create_client(
        client_id=new_id("", 32), secret=secret, name=req.name,
        description=req.description or "", app_type=req.app_type,
        token_endpoint_auth_method=method, callbacks=req.callbacks or [],
        allowed_logout_urls=req.allowed_logout_urls or [], web_origins=req.web_origins or [],
        grant_types=list(req.grant_types or grants),
        is_first_party=True if req.is_first_party is None else req.is_first_party,
        token_exchange_connections=_allowed_connections(req.token_exchange) or [])
    return render(client, secret)


def _allowed_connections(settings: TokenExchange | None) -> list[str] | None:
    return None if settings is None else list(dict.fromkeys(settings.allowed_connections))


async def get(store: Store, client_id: str) -> dict[str, Any]:
    client = await store.get_client(client_id)
    if client is None:
        raise NotFound("The client does not exist", error_code="inexistent_client")
    return render(client)


async def list_all(store: Store) -> list[dict[str, Any]]:
    return [render(c) for c in await store.list_clients()]


async def update(store: Store, client_id: str, body: Any) -> dict[str, Any]:
    req = parse(ClientChanges, body)
    changes = req.model_dump(exclude_unset=True, exclude_none=True)
    if req.token_exchange is not None:
        changes["token_exchange_connections"] = _allowed_connections(req.token_exchange)
    current = await store.get_client(client_id)
    if current is None:
        raise NotFound("The client does not exist", error_code="inexistent_client")
    method = changes.get("token_endpoint_auth_method", current.token_endpoint_auth_method)
    # A client turned confidential gets a secret now (shown in this response, once); a client
    # turned public loses its secret, so it cannot keep authenticating with it.
    secret = secrets.token_urlsafe(48) if current.is_public and method != "none" else None
    client = await store.update_client(client_id, changes, secret=secret,
                                       clear_secret=method == "none")
    assert client is not None
    return render(client, secret)


async def rotate_secret(store: Store, client_id: str) -> dict[str, Any]:
    current = await store.get_client(client_id)
    if current is not None and current.is_public:
        raise BadRequest("A public client (token_endpoint_auth_method none) has no secret",
                         error_code="invalid_body")
    secret = secrets.token_urlsafe(48)
    client = await store.update_client(client_id, {}, secret=secret)
    if client is None:
        raise NotFound("The client does not exist", error_code="inexistent_client")
    return render(client, secret)


async def delete(store: Store, client_id: str) -> None:
    if not await store.delete_client(client_id):
        raise NotFound("The client does not exist", error_code="inexistent_client")
