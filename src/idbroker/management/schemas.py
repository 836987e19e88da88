"""Response models of the Management API. They are not used to build responses (the resource
modules return plain dicts); they document them in the OpenAPI document, and schemathesis
checks every response against them. Extra keys are allowed, as in Auth0's own schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorOut(Out):
    statusCode: int
    error: str
    message: str
    errorCode: str | None = None


class ClientOut(Out):
    client_id: str
    name: str
    description: str
    app_type: str
    token_endpoint_auth_method: str
    callbacks: list[str]
    allowed_logout_urls: list[str]
    web_origins: list[str]
    grant_types: list[str]
    is_first_party: bool
    created_at: str
    client_secret: str | None = None


class ConnectionOut(Out):
    id: str
    name: str
    strategy: str
    options: dict[str, Any]
    enabled_clients: list[str]
    is_domain_connection: bool
    realms: list[str]
    display_name: str | None = None


class ClientGrantOut(Out):
    id: str
    client_id: str
    audience: str
    scope: list[str]


class IdentityOut(Out):
    provider: str
    user_id: str | int  # a number for GitHub, as in Auth0 (ProviderSpec.numeric_user_id)
    connection: str
    isSocial: bool
    profileData: dict[str, Any] | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    access_token_secret: str | None = None
    expires_in: int | None = None


class UserOut(Out):
    user_id: str | None = None
    email: str | None = None
    email_verified: bool | None = None
    name: str | None = None
    nickname: str | None = None
    picture: str | None = None
    identities: list[IdentityOut] | None = None
    app_metadata: dict[str, Any] | None = None
    user_metadata: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_login: str | None = None
    logins_count: int | None = None
    blocked: bool | None = None


class ClientsPage(Out):
    clients: list[ClientOut]
    start: int | None = None
    limit: int | None = None
    total: int | None = None


class ConnectionsPage(Out):
    connections: list[ConnectionOut]
    next: str | None = None
    start: int | None = None
    limit: int | None = None
    total: int | None = None


class ClientGrantsPage(Out):
    client_grants: list[ClientGrantOut]
    next: str | None = None
    start: int | None = None
    limit: int | None = None
    total: int | None = None


class TokenRevocationOut(Out):
    """POST .../identities/{provider}/{user_id}/tokens (docs/token-termination.md)."""

    revocation_id: str | None = None
    token_status: str


class TokenValidationOut(Out):
    """GET .../identities/{provider}/{user_id}/tokens/validation; never holds the token."""

    active: bool
    method: str
    checked_at: str
    scope: str | None = None
    exp: int | None = None
    expires_in: int | None = None
    token_status: str | None = None


class ResourceServerScopeOut(Out):
    value: str
    description: str | None = None


class ResourceServerOut(Out):
    id: str
    name: str
    identifier: str
    is_system: bool
    scopes: list[ResourceServerScopeOut]
    signing_alg: str
    token_lifetime: int
    enforce_policies: bool


class ResourceServersPage(Out):
    resource_servers: list[ResourceServerOut]
    next: str | None = None
    start: int | None = None
    limit: int | None = None
    total: int | None = None


class SigningKeyOut(Out):
    kid: str
    cert: str
    pem: str | None = None
    fingerprint: str | None = None
    thumbprint: str | None = None
    current: bool
    next: bool
    previous: bool
    revoked: bool
    current_since: str | None = None
    current_until: str | None = None
    revoked_at: str | None = None


class SigningKeyChangeOut(Out):
    cert: str
    kid: str


class LogOut(Out):
    # Optional because ``fields`` may select any subset.
    log_id: str | None = None
    date: str | None = None
    type: str | None = None
    description: str | None = None
    client_id: str | None = None
    user_id: str | None = None
    connection: str | None = None
    ip: str | None = None
    details: dict[str, Any] | None = None


class LogsPage(Out):
    logs: list[LogOut]
    start: int | None = None
    limit: int | None = None
    length: int | None = None
    total: int | None = None


class UsersPage(Out):
    """GET /api/v2/users with include_totals=true."""

    start: int
    limit: int
    length: int
    total: int
    users: list[UserOut]


class EventEndpointOut(Out):
    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: str
    updated_at: str
    # Only in the responses that create the endpoint or rotate its secret.
    secret: str | None = None


class EventDeliveryOut(Out):
    id: str
    event_id: str
    status: str
    attempts: int
    next_attempt_at: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: str
    updated_at: str
