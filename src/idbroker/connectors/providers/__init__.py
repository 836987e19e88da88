"""Built-in identity providers: one module each, found here at import time.

A provider module defines ``SPEC`` (its :class:`ProviderSpec`, see ``catalog.py``) and
``CONNECTOR`` (its connector class); this package collects them into ``CATALOG`` and
``CONNECTORS``, and connectors/registry.py adds them to ``STRATEGIES``. Adding a provider
touches no shared file. A connector may define any of three optional methods, which the
generic lifecycle modules call instead of their RFC defaults:

- ``refresh_tokens(refresh_token, *, access_token, subject, timeout) -> TokenSet``
  (connectors/refresh.py; raise ``UpstreamTokenRejected`` for a dead grant,
  ``UpstreamRetryLater`` for a passing failure);
- ``revoke_tokens(tokens) -> RevocationResult`` (connectors/revocation.py; never raises);
- ``validate_token(access_token) -> TokenCheck`` (connectors/validation.py).

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
_HELPERS = frozenset({"catalog", "log_redaction", "wire"})


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

log_redaction.install()

__all__ = ["CATALOG", "CONNECTORS", "ProviderSpec"]
