"""What each built-in provider can do, declared as data in one place.

Each provider module declares its ``SPEC`` (a ProviderSpec) next to its ``CONNECTOR``; the
package collects them into ``CATALOG``. The connector reads its defaults from its spec
(default scopes, the authorize parameters that yield a refresh token), the conformance suite
reads which paths to exercise, and ``scripts/gen_provider_docs.py`` renders
``docs/providers/README.md`` from the catalog, so the table in the docs, the tests and the code
cannot disagree. Adding a provider: one module in this package (``SPEC`` + ``CONNECTOR``), one
fake module in ``tests/fakes/providers/`` (``STRATEGY`` + ``make_fake``), one docs page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    strategy: str  # Auth0's strategy name, also the identity ``provider``
    display_name: str
    protocol: Literal["oidc", "oauth2", "oauth1"]
    default_scopes: tuple[str, ...]
    # Authorize parameters sent when the login asks for offline access (refresh tokens).
    offline_params: dict[str, str]
    supports_refresh: bool
    refresh_method: str  # how a token is renewed, in a few words
    supports_revocation: bool
    revocation_method: str
    validation_method: str  # the TokenCheck.method the connector reports
    email_trust: str  # when the email is marked verified (never auto-link on an unverified one)
    rotates_refresh_tokens: bool = False
    # Revocation ends the refresh token only; access tokens already issued live until they
    # expire (HubSpot, Auth0), so a revoked identity's access token may still work a while.
    revocation_spares_access_token: bool = False
    requires_client_secret: bool = True
    # Auth0 serves this provider's ``identities[].user_id`` as a JSON number (GitHub); the
    # root ``user_id`` stays the string ``{provider}|{id}``.
    numeric_user_id: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def docs_page(self) -> str:
        return f"{self.strategy}.md"
