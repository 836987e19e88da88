"""The interface every upstream connector implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, StrictBool

from idbroker.errors import ConfigurationError, UpstreamDenied, UpstreamProtocolError
from idbroker.vault.records import TokenSet, UpstreamProfile

# /authorize parameters that Auth0 lets a connection copy upstream (upstream_params "alias").
ALIASABLE_PARAMS = frozenset({
    "acr_values", "audience", "client_id", "display", "id_token_hint", "login_hint", "max_age",
    "prompt", "resource", "response_mode", "response_type", "ui_locales",
})

# The authorization-code token request's fields (RFC 6749 §4.1.3), in the order sent.
CODE_GRANT_FIELDS = ("grant_type", "code", "redirect_uri")


class ConnectorOptions(BaseModel):
    """Options common to OAuth 2.0 based connections (Auth0 ``options``)."""

    model_config = ConfigDict(extra="allow")

    client_id: str
    scope: str | list[str] | None = None
    upstream_params: dict[str, dict[str, str]] = {}
    # Keep this connection's IdP tokens fresh ahead of expiry (lifecycle/refresh_ahead.py).
    background_refresh: StrictBool = False

    def scopes(self, default: str) -> list[str]:
        raw = self.scope if self.scope is not None else default
        items = raw if isinstance(raw, list) else raw.replace(",", " ").split()
        return [s for s in items if s]


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    """What a connector may talk to; plain http only for local development."""

    allow_insecure: bool
    timeout_s: float

    def check_url(self, url: str, what: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.netloc:
            return url
        if parts.scheme == "http" and parts.netloc and self.allow_insecure:
            return url
        raise ConfigurationError(f"{what} must be an https URL", detail=f"{what}={url!r}")


@dataclass(frozen=True, slots=True)
class UpstreamAuthorization:
    """Everything a connector needs to send a person to the upstream's authorization page."""

    callback_url: str
    state: str
    nonce: str
    code_verifier: str
    extra_scopes: list[str] = field(default_factory=list)
    request_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamStart:
    """Where to send the person, and what the connector must get back at the callback."""

    url: str
    # Per-login data the connector needs again in complete() (OAuth 1.0a: the request
    # token and its secret). Sealed inside the login transaction; never sent to the browser.
    connector_state: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamCallback:
    callback_url: str
    params: Mapping[str, str]
    nonce: str
    code_verifier: str
    connector_state: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class UpstreamLogin:
    issuer: str
    subject: str
    profile: UpstreamProfile
    tokens: TokenSet


class ConnectorCore:
    """The collaborators the registry hands every connector (connectors/registry.py
    ``open_connector``); connectors extend it rather than repeat it."""

    strategy: ClassVar[str]

    def __init__(self, *, name: str, options: Any, client_secret: str | None,
                 http: httpx.AsyncClient, policy: UpstreamPolicy) -> None:
        self.name = name
        self.provider = self.strategy
        self.options = options
        self.client_secret = client_secret
        self.http = http
        self.policy = policy

    def code_grant_request(self, callback: UpstreamCallback,
                           fields: Sequence[str] = CODE_GRANT_FIELDS, *, pkce: bool = False,
                           secret: Callable[[], str] | None = None) -> dict[str, str]:
        """The token request that redeems the callback's authorization code.

        An error response is a refusal (UpstreamDenied, its error code bounded in the
        detail); one without a code is a protocol error. ``fields`` are the request's fields
        in the order the provider documents them: ``grant_type``, ``code``, ``redirect_uri``,
        and ``client_id`` / ``client_secret`` for a provider that takes the credentials in
        the request, the secret read from ``secret``. ``pkce`` appends the RFC 7636
        ``code_verifier``."""
        params = callback.params
        if params.get("error"):
            raise UpstreamDenied(detail=f"authorize: error={str(params['error'])[:64]!r}")
        if not params.get("code"):
            raise UpstreamProtocolError(detail="authorize: no code")
        values = {"grant_type": "authorization_code", "code": params["code"],
                  "redirect_uri": callback.callback_url, "client_id": self.options.client_id}
        if secret is not None and "client_secret" in fields:
            # Read only now: a callback without a code is reported as such, whatever the
            # connection's configuration.
            values["client_secret"] = secret()
        request = {name: values[name] for name in fields}
        if pkce:
            request["code_verifier"] = callback.code_verifier
        return request


class Connector(Protocol):
    strategy: ClassVar[str]
    is_social: ClassVar[bool]
    # Generic strategies prefix the upstream id with the connection name (Auth0's
    # "oidc|{connection}|{sub}"), since two connections of one strategy share the provider.
    namespaced_user_id: ClassVar[bool]
    provider: str

    def scopes(self, extra: list[str]) -> list[str]: ...

    # A connector that must talk to the upstream before the redirect and keep something
    # for the callback (OAuth 1.0a) defines ``begin_authorization(request) -> UpstreamStart``
    # instead; :func:`start_authorization` calls whichever the connector has.
    async def authorization_url(self, request: UpstreamAuthorization) -> str: ...

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin: ...


async def start_authorization(connector: Any, request: UpstreamAuthorization) -> UpstreamStart:
    begin = getattr(connector, "begin_authorization", None)
    if begin is not None:
        start: UpstreamStart = await begin(request)
        return start
    return UpstreamStart(url=await connector.authorization_url(request))


def upstream_params(options: ConnectorOptions, request_params: Mapping[str, str]) -> dict[str, str]:
    """Resolve a connection's ``upstream_params`` (static values and /authorize aliases)."""
    resolved: dict[str, str] = {}
    for name, spec in options.upstream_params.items():
        if "value" in spec:
            resolved[name] = spec["value"]
        elif spec.get("alias") in ALIASABLE_PARAMS and request_params.get(spec["alias"]):
            resolved[name] = request_params[spec["alias"]]
    return resolved


# Parameters the connector itself sets; upstream_params may not override them (an upstream
# told to answer with form_post, or for another client, would break the login silently).
RESERVED_UPSTREAM_PARAMS = frozenset({
    "response_type", "response_mode", "client_id", "redirect_uri", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method",
})


def check_upstream_params(raw: Any) -> None:
    if not isinstance(raw, dict):
        raise ConfigurationError("options.upstream_params must be an object")
    for name, spec in raw.items():
        if name in RESERVED_UPSTREAM_PARAMS:
            raise ConfigurationError(f"options.upstream_params.{name} is set by idbroker itself")
        if not isinstance(spec, dict) or not (
            isinstance(spec.get("value"), str) or spec.get("alias") in ALIASABLE_PARAMS
        ):
            raise ConfigurationError(
                f"options.upstream_params.{name} must be {{\"value\": string}} or "
                f"{{\"alias\": one of {', '.join(sorted(ALIASABLE_PARAMS))}}}")



def expires_at(body: Mapping[str, Any], now: int) -> int | None:
    value = body.get("expires_in")
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value > 0:
        return now + int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return now + int(value)
    return None

