"""What the catalog's own connectors share (those not built on the generic ``oidc`` or
``oauth2`` connector): the collaborators the registry injects, and the scopes asked of the
upstream (the connection's ``scope`` option, else the spec's defaults, plus the login's
``connection_scope``)."""

from __future__ import annotations

from typing import ClassVar

from idbroker.connectors.base import ConnectorCore, ConnectorOptions
from idbroker.connectors.providers.catalog import ProviderSpec


class ProviderConnector(ConnectorCore):
    spec: ClassVar[ProviderSpec]
    is_social: ClassVar[bool] = True
    namespaced_user_id: ClassVar[bool] = False
    options: ConnectorOptions

    def scopes(self, extra: list[str]) -> list[str]:
        default = " ".join(self.spec.default_scopes)
        return list(dict.fromkeys([*self.options.scopes(default), *extra]))
