"""Built-in identity providers: one module each, declared in ``catalog.py``.

``CONNECTORS`` maps each catalog strategy to its connector class; connectors/registry.py adds
them to ``STRATEGIES``. A provider module may give its connector any of three optional
methods, which the generic lifecycle modules call instead of their RFC defaults:

- ``refresh_tokens(refresh_token, *, access_token, subject, timeout) -> TokenSet``
  (connectors/refresh.py; raise ``UpstreamTokenRejected`` for a dead grant,
  ``UpstreamRetryLater`` for a passing failure);
- ``revoke_tokens(tokens) -> RevocationResult`` (connectors/revocation.py; never raises);
- ``validate_token(access_token) -> TokenCheck`` (connectors/validation.py).

A catalog entry's ``requires_client_secret`` makes registry.validate refuse a connection
without ``options.client_secret`` (the ``Options`` model never sees the sealed secret).
"""

from __future__ import annotations

from typing import Any

from idbroker.connectors.providers import log_redaction
from idbroker.connectors.providers.catalog import CATALOG, ProviderSpec
from idbroker.connectors.providers.facebook import FacebookConnector
from idbroker.connectors.providers.github import GitHubConnector
from idbroker.connectors.providers.google import GoogleConnector

CONNECTORS: dict[str, Any] = {c.strategy: c for c in (
    GoogleConnector, GitHubConnector, FacebookConnector)}

log_redaction.install()

__all__ = ["CATALOG", "CONNECTORS", "ProviderSpec"]
