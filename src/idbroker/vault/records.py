"""Plain records the store hands out. They hold no sealed material and no secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson



@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    description: str
    app_type: str
    secret_digest: str | None
    token_endpoint_auth_method: str
    callbacks: list[str]
    allowed_logout_urls: list[str]
    web_origins: list[str]
    grant_types: list[str]
    is_first_party: bool
    created_at: int
    updated_at: int
    # Connection names whose IdP tokens this client may obtain by token exchange.
    token_exchange_connections: list[str] = field(default_factory=list)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    name: str
    display_name: str | None
    strategy: str
    options: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)
    enabled_clients: list[str]
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class ClientGrant:
    id: str
    client_id: str
    audience: str
    scope: list[str]


@dataclass(slots=True)
class TokenSet:
    """What an upstream IdP issued. Only ever stored sealed; ``repr`` never shows values."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    access_token_secret: str | None = field(default=None, repr=False)
    token_type: str | None = None
    expires_at: int | None = None  # epoch seconds
    scope: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps({
            "access_token": self.access_token, "refresh_token": self.refresh_token,
            "id_token": self.id_token, "access_token_secret": self.access_token_secret,
            "token_type": self.token_type, "expires_at": self.expires_at, "scope": self.scope,
        }).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> TokenSet:
        # Written by to_json alone: strings, a list of strings and an epoch-seconds integer,
        # nothing orjson could read differently from the standard library.
        data = orjson.loads(raw)
        return cls(**{k: data.get(k) for k in (
            "access_token", "refresh_token", "id_token", "access_token_secret",
            "token_type", "expires_at")}, scope=data.get("scope") or [])


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    user_id: str
    connection_id: str
    connection: str
    provider: str
    issuer: str
    subject: str
    idp_user_id: str
    is_social: bool
    profile_data: dict[str, Any]
    tokens_sealed: bytes | None = field(repr=False)
    token_expires_at: int | None
    granted_scopes: list[str]
    token_status: str
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str | None
    email_verified: bool
    username: str | None
    name: str | None
    given_name: str | None
    family_name: str | None
    nickname: str | None
    picture: str | None
    extra: dict[str, Any]
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    blocked: bool
    created_at: int
    updated_at: int
    last_login: int | None
    last_ip: str | None
    logins_count: int
    identities: list[Identity]


@dataclass(frozen=True, slots=True)
class UpstreamProfile:
    """The normalized profile an upstream vouched for (Auth0's root profile fields)."""

    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    nickname: str | None = None
    picture: str | None = None
    username: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Root fields this login did not really carry (Apple sends the name only on the first
    # login): a repeat login keeps the stored values of these (vault/login_store.py).
    kept: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    kid: str
    private_sealed: bytes = field(repr=False)
    public_jwk: dict[str, Any]
    status: str
    created_at: int
