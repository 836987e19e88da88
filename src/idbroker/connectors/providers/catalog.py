"""What each built-in provider can do, declared as data in one place.

The connector modules read their defaults from here (default scopes, the authorize parameters
that yield a refresh token), the conformance suite reads which paths to exercise, and
``scripts/gen_provider_docs.py`` renders ``docs/providers/README.md`` from it, so the table in
the docs, the tests and the code cannot disagree. Adding a provider: one module in this
package, one entry here, one fake in ``tests/fakes/providers/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    strategy: str  # Auth0's strategy name, also the identity ``provider``
    display_name: str
    protocol: Literal["oidc", "oauth2"]
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
    requires_client_secret: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def docs_page(self) -> str:
        return f"{self.strategy}.md"


CATALOG: dict[str, ProviderSpec] = {spec.strategy: spec for spec in (
    ProviderSpec(
        strategy="google-oauth2", display_name="Google", protocol="oidc",
        default_scopes=("openid", "profile", "email"),
        offline_params={"access_type": "offline", "prompt": "consent"},
        supports_refresh=True, refresh_method="refresh_token grant (not rotated)",
        supports_revocation=True,
        revocation_method="POST https://oauth2.googleapis.com/revoke (ends the whole grant)",
        validation_method="tokeninfo",
        email_trust="`email_verified` claim of the ID token",
    ),
    ProviderSpec(
        strategy="github", display_name="GitHub", protocol="oauth2",
        default_scopes=("read:user", "user:email"), offline_params={},
        supports_refresh=True,
        refresh_method="refresh_token grant, only for GitHub Apps with expiring user tokens "
                       "(rotated); OAuth app tokens do not expire",
        supports_revocation=True,
        revocation_method="DELETE https://api.github.com/applications/{client_id}/grant",
        validation_method="token_check",
        email_trust="`/user/emails` entry that is both `primary` and `verified`",
        rotates_refresh_tokens=True,
    ),
    ProviderSpec(
        strategy="facebook", display_name="Facebook", protocol="oauth2",
        default_scopes=("email", "public_profile"), offline_params={},
        supports_refresh=True,
        refresh_method="no refresh tokens; a live token is exchanged for a long-lived one "
                       "(`fb_exchange_token`), at login and by the connector's refresh "
                       "(not yet run on read)",
        supports_revocation=True,
        revocation_method="DELETE https://graph.facebook.com/{version}/me/permissions",
        validation_method="debug_token",
        email_trust="never: Graph API does not say whether the email was verified",
    ),
)}
