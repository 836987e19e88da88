"""Test-facing wrapper around the demo OpenID Connect provider."""

from __future__ import annotations

import dataclasses
import secrets
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette

from idbroker.demo.upstream_idp import (
    DEFAULT_DEMO_USERS,
    DemoClient,
    DemoIdp,
    DemoIdpConfig,
    DemoUser,
    IdpHooks,
    create_demo_idp,
)

DEFAULT_REDIRECT_URIS = ("https://idbroker.example.test/login/callback",)


class FakeOIDCUpstream:
    """An upstream IdP with one registered client, demo users and injectable defects."""

    def __init__(
        self,
        issuer: str = "https://idp.example.test",
        client_id: str = "upstream-client",
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
        auto_approve: str | None = "alice",
        access_token_ttl: int = 3600,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        uris = list(redirect_uris or DEFAULT_REDIRECT_URIS)
        client = DemoClient(client_id, self.client_secret, uris)
        config = DemoIdpConfig(
            issuer=issuer,
            clients=[client],
            users=list(DEFAULT_DEMO_USERS),
            auto_approve=auto_approve,
            access_token_ttl=access_token_ttl,
            hooks=IdpHooks(),
        )
        self.app: Starlette = create_demo_idp(config)

    @property
    def idp(self) -> DemoIdp:
        idp: DemoIdp = self.app.state.idp
        return idp

    @property
    def issuer(self) -> str:
        return self.idp.issuer

    @property
    def host(self) -> str:
        """``host[:port]`` of the issuer, as a :class:`RoutingTransport` route key."""
        return urlsplit(self.issuer).netloc

    @property
    def discovery_url(self) -> str:
        return self.idp.url("/.well-known/openid-configuration")

    @property
    def hooks(self) -> IdpHooks:
        return self.idp.hooks

    @property
    def calls(self) -> Counter[str]:
        return self.idp.calls

    @property
    def issued(self) -> list[dict[str, Any]]:
        """Every successful token response body, oldest first."""
        return self.idp.issued

    def add_user(self, sub: str, email: str | None = None, **claims: Any) -> DemoUser:
        """Register a user; unspecified profile claims are derived from ``sub``."""
        email = email or f"{sub}@example.com"
        defaults: dict[str, Any] = {
            "email_verified": True,
            "name": sub.title(),
            "given_name": sub.title(),
            "family_name": "Example",
            "nickname": sub,
            "picture": f"https://idp.example.test/pictures/{sub}.png",
        }
        user = DemoUser(sub=sub, email=email, **{**defaults, **claims})
        self.idp.users[sub] = user
        return user

    def replace_user(self, sub: str, **claims: Any) -> DemoUser:
        """Change some claims of an existing user (e.g. a new e-mail upstream)."""
        user = dataclasses.replace(self.idp.users[sub], **claims)
        self.idp.users[sub] = user
        return user

    def set_login(self, sub: str | None) -> None:
        """Who is approved automatically at /authorize; ``None`` shows the login page."""
        self.idp.config.auto_approve = sub

    def reset_hooks(self) -> None:
        self.hooks.reset()

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)
