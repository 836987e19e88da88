"""Tenant set-up shared by the SDK interop tests: an admin token from the bootstrap client
(auth0-python's own GetToken), and an OIDC connection users can be created in."""

from __future__ import annotations

from auth0.authentication import GetToken
from auth0.management import Auth0

from tests.interop.conftest import Stack

CONNECTION = "acme-oidc"


def admin_token(stack: Stack) -> str:
    auth = GetToken(stack.domain, stack.bootstrap_client_id,
                    client_secret=stack.bootstrap_client_secret, protocol="http")
    return str(auth.client_credentials(audience=stack.management_audience)["access_token"])


def v6(stack: Stack, token: str, **options: object) -> Auth0:
    # max_retries=0 unless a test is about retries: a retried 409/5xx would hide it.
    options.setdefault("max_retries", 0)
    return Auth0(base_url=stack.management_base_url, token=token, timeout=10,
                 **options)  # type: ignore[arg-type]


def oidc_connection_body(stack: Stack, name: str = CONNECTION) -> dict[str, object]:
    return {"name": name, "strategy": "oidc",
            "options": {"discovery_url": f"{stack.upstream_url}/.well-known/openid-configuration",
                        "client_id": stack.upstream.client_id,
                        "client_secret": stack.upstream.client_secret,
                        "scope": "openid profile email offline_access"}}
