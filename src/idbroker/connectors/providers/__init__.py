"""Built-in identity providers: one module each, found here at import time.

A provider module defines ``SPEC`` (its :class:`ProviderSpec`, see ``catalog.py``) and
``CONNECTOR`` (its connector class: ``connector_base.ProviderConnector``, or a generic
``oidc`` / ``oauth2`` connector extended); this package collects them into ``CATALOG`` and
``CONNECTORS``, and connectors/registry.py adds them to ``STRATEGIES``. Adding a provider
touches no shared file. The generic modules' building blocks are public for providers to
reuse: ``refresh.post_token_request``, ``revocation.revoke_one``, ``validation.introspect``
and ``validation.probe``; ``oauth2.LockedOAuth2Options`` fixes a provider's endpoints. A
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
import pkgutil
from typing import Any

from idbroker.connectors.providers import log_redaction
from idbroker.connectors.providers.catalog import ProviderSpec

# Modules of this package that are shared helpers, not providers.
_HELPERS = frozenset({"catalog", "connector_base", "log_redaction", "wire"})


def _discover() -> tuple[dict[str, ProviderSpec], dict[str, Any]]:
    catalog: dict[str, ProviderSpec] = {}
    connectors: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _HELPERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec: ProviderSpec = module.SPEC
        if spec.strategy in catalog or module.CONNECTOR.strategy != spec.strategy:
            raise RuntimeError(f"provider module {info.name}: duplicate or mismatched strategy")
        catalog[spec.strategy] = spec
        connectors[spec.strategy] = module.CONNECTOR
    return catalog, connectors


CATALOG, CONNECTORS = _discover()

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

__all__ = ["CATALOG", "CONNECTORS", "ProviderSpec", "identity_user_id"]
