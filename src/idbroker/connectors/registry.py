"""Strategy name → connector class: the generic ``oidc`` and ``oauth2`` connectors, then the
provider catalog's (connectors/providers/), whose modules are imported on first use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from idbroker.connectors.base import UpstreamPolicy, check_upstream_params
from idbroker.connectors.oauth2 import OAuth2Connector
from idbroker.connectors.oidc import OIDCConnector
from idbroker.connectors.providers import CATALOG, CONNECTORS
from idbroker.errors import ConfigurationError

_GENERIC: dict[str, Any] = {
    OIDCConnector.strategy: OIDCConnector,
    OAuth2Connector.strategy: OAuth2Connector,
}


class _Strategies(Mapping[str, Any]):
    """Every strategy, listed without importing a provider module (CONNECTORS is lazy)."""

    def __getitem__(self, strategy: str) -> Any:
        return _GENERIC[strategy] if strategy in _GENERIC else CONNECTORS[strategy]

    def __contains__(self, strategy: object) -> bool:
        return strategy in _GENERIC or strategy in CONNECTORS

    def __iter__(self) -> Iterator[str]:
        yield from _GENERIC
        yield from CONNECTORS

    def __len__(self) -> int:
        return len(_GENERIC) + len(CONNECTORS)


STRATEGIES: Mapping[str, Any] = _Strategies()

# Option names whose values are secrets: sealed in the vault and never returned by the API.
# ``private_key``: Sign in with Apple's signing key (connectors/providers/apple.py).
SECRET_OPTIONS = ("client_secret", "private_key")


def split_secrets(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    public = {k: v for k, v in options.items() if k not in SECRET_OPTIONS}
    secrets = {k: v for k, v in options.items() if k in SECRET_OPTIONS and isinstance(v, str)}
    return public, secrets


def validate(strategy: str, options: dict[str, Any], policy: UpstreamPolicy) -> None:
    """Raise ConfigurationError with a message a person can act on."""
    connector = STRATEGIES.get(strategy)
    if connector is None:
        raise ConfigurationError(
            f"unknown strategy {strategy!r}; supported: {', '.join(sorted(STRATEGIES))}")
    check_upstream_params(options.get("upstream_params", {}))
    spec = CATALOG.get(strategy)
    secret = options.get("client_secret")
    if spec is not None and spec.requires_client_secret and (
            not isinstance(secret, str) or not secret):
        raise ConfigurationError(f"options.client_secret is required for {strategy} "
                                 "(a non-empty string)")
    try:
        parsed = connector.Options.model_validate(options)
    except ValueError as exc:
        raise ConfigurationError(_first_error(exc)) from exc
    for key in ("discovery_url", "authorization_endpoint", "token_endpoint", "jwks_uri",
                "userinfo_endpoint", "revocation_endpoint", "introspection_endpoint",
                "authorizationURL", "tokenURL", "profileURL", "revocationURL", "validationURL"):
        value = getattr(parsed, key, None)
        if value:
            policy.check_url(value, f"options.{key}")


def open_connector(*, name: str, strategy: str, options: dict[str, Any],
                   secrets: dict[str, str], http: httpx.AsyncClient, policy: UpstreamPolicy) -> Any:
    connector = STRATEGIES.get(strategy)
    if connector is None:
        raise ConfigurationError(f"unknown strategy {strategy!r}")
    # Sealed options other than the client secret (Apple's private_key) reach the connector
    # through its Options model, which must hold them as pydantic SecretStr.
    sealed = {k: v for k, v in secrets.items() if k != "client_secret"}
    parsed = connector.Options.model_validate({**options, **sealed})
    return connector(name=name, options=parsed, client_secret=secrets.get("client_secret"),
                     http=http, policy=policy)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return f"options.{where}: {message}" if where else message
    return str(exc)
