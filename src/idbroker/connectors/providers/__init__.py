"""Built-in identity providers: one module each, imported when first used.

A provider module defines ``SPEC`` (its :class:`ProviderSpec`, see ``catalog.py``) and
``CONNECTOR`` (its connector class: ``connector_base.ProviderConnector``, or a generic
``oidc`` / ``oauth2`` connector extended); ``MODULES`` below names the module of each strategy,
``CATALOG`` and ``CONNECTORS`` map a strategy to its module's ``SPEC`` and ``CONNECTOR``, and
connectors/registry.py adds them to ``STRATEGIES``. Listing the strategies imports no provider
module: a module is imported when its spec or connector is first asked for (a connection of
that strategy is used or validated), so that start-up does not build the pydantic models of
~30 providers nobody may use (docs/performance.md). Adding a provider: its module plus one line
in ``MODULES``; tests/unit/connectors/test_provider_modules.py fails until that line is there.
The generic modules' building blocks are public for providers to
reuse: ``refresh.post_token_request``, ``revocation.revoke_one``, ``validation.introspect``
and ``validation.probe``; ``oauth2.LockedOAuth2Options`` fixes a provider's endpoints;
``base.ConnectorCore.code_grant_request`` checks a login's callback and builds the token
request that redeems its code, in the provider's own fields and order. A
connector may define any of these optional methods, which the generic lifecycle modules
call instead of their RFC defaults:

- ``refresh_tokens(refresh_token, *, access_token, subject, timeout) -> TokenSet``
  (connectors/refresh.py; raise ``UpstreamTokenRejected`` for a dead grant,
  ``UpstreamRetryLater`` for a passing failure);
- ``revoke_tokens(tokens) -> RevocationResult`` (connectors/revocation.py; never raises);
- ``validate_token(access_token) -> TokenCheck`` (connectors/validation.py);
  ``validate_grant(tokens) -> TokenCheck`` instead when the check needs more than the
  access token (Apple's refresh token, X OAuth 1.0a's token secret).

A catalog entry's ``requires_client_secret`` makes registry.validate refuse a connection
without ``options.client_secret`` (the ``Options`` model never sees the sealed secret).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from idbroker.connectors.providers import log_redaction
from idbroker.connectors.providers.catalog import ProviderSpec

# Strategy (Auth0's name, the identity ``provider``) → its module in this package.
MODULES: dict[str, str] = {
    "amazon": "amazon",
    "apple": "apple",
    "atlassian": "atlassian",
    "auth0-oidc": "auth0_oidc",
    "bitbucket": "bitbucket",
    "box": "box",
    "discord": "discord",
    "dropbox": "dropbox",
    "facebook": "facebook",
    "figma": "figma",
    "github": "github",
    "gitlab": "gitlab",
    "google-oauth2": "google",
    "hubspot": "hubspot",
    "keycloak": "keycloak",
    "line": "line",
    "linkedin": "linkedin",
    "notion": "notion",
    "okta": "okta",
    "paypal": "paypal",
    "reddit": "reddit",
    "salesforce": "salesforce",
    "sign-in-with-slack": "slack",
    "spotify": "spotify",
    "strava": "strava",
    "twitch": "twitch",
    "twitter": "twitter",
    "twitter-oauth2": "twitter_oauth2",
    "waad": "waad",
    "windowslive": "windowslive",
    "yahoo": "yahoo",
    "zoom": "zoom",
}

# Modules of this package that are shared helpers, not providers.
HELPERS = frozenset({"catalog", "connector_base", "log_redaction", "wire"})


def provider_module(strategy: str) -> Any:
    """The module of ``strategy`` (KeyError when it is not a built-in provider), imported on
    first use; a module whose ``SPEC`` or ``CONNECTOR`` names another strategy is refused."""
    module = importlib.import_module(f"{__name__}.{MODULES[strategy]}")
    if module.SPEC.strategy != strategy or module.CONNECTOR.strategy != strategy:
        raise RuntimeError(f"provider module {MODULES[strategy]}: its SPEC or CONNECTOR is "
                           f"not for strategy {strategy!r} (connectors/providers/MODULES)")
    return module


_V = TypeVar("_V")


class _ByStrategy(Mapping[str, _V], Generic[_V]):
    """Strategy → one attribute of its provider module. Keys, ``in`` and ``len`` come from
    ``MODULES`` alone; only reading a value imports that provider's module."""

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute
        # Read on every user read (identity_user_id): a dict hit, not an import lookup.
        # Keyed by (strategy, module): a changed MODULES entry is never answered from here.
        self._loaded: dict[tuple[str, str], _V] = {}

    def __getitem__(self, strategy: str) -> _V:
        key = (strategy, MODULES[strategy])  # KeyError: not a built-in provider
        try:
            return self._loaded[key]
        except KeyError:
            pass
        value: _V = getattr(provider_module(strategy), self._attribute)
        self._loaded[key] = value
        return value

    def get(self, strategy: str, default: Any = None) -> Any:  # type: ignore[override]
        # Mapping.get would raise and catch a KeyError for every generic (oidc) identity.
        return self[strategy] if strategy in MODULES else default

    def __contains__(self, strategy: object) -> bool:
        return strategy in MODULES

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)

    def __repr__(self) -> str:
        return f"<{self._attribute} of the providers {sorted(MODULES)}>"


CATALOG: Mapping[str, ProviderSpec] = _ByStrategy("SPEC")
CONNECTORS: Mapping[str, Any] = _ByStrategy("CONNECTOR")

# The largest integer a JSON reader in JavaScript holds exactly (Number.MAX_SAFE_INTEGER).
_MAX_SAFE_INTEGER = 2**53 - 1


def identity_user_id(provider: str, idp_user_id: str) -> str | int:
    """``identities[].user_id`` typed as Auth0 types it: a number for providers whose spec
    says ``numeric_user_id`` (when the stored id is one), a string otherwise."""
    spec = CATALOG.get(provider)
    if spec is not None and spec.numeric_user_id and idp_user_id.isascii() \
            and idp_user_id.isdigit() and int(idp_user_id) <= _MAX_SAFE_INTEGER:
        return int(idp_user_id)
    return idp_user_id

log_redaction.install()

__all__ = ["CATALOG", "CONNECTORS", "MODULES", "ProviderSpec", "identity_user_id",
           "provider_module"]
