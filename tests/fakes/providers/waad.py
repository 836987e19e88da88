"""A fake of Microsoft Entra ID (work and school accounts) on the identity platform v2.0: the
same endpoints as tests/fakes/providers/windowslive.py, for an app registered as multi-tenant
(``/organizations/``), whose users each belong to their own tenant: the ID token's ``iss`` is
``https://login.microsoftonline.com/{tid}/v2.0`` for the user's ``tid``. The app registration
asks for the optional claim ``xms_edov``."""

from __future__ import annotations

from typing import Any

from tests.fakes.providers.windowslive import FakeMicrosoft

USER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


class FakeEntra(FakeMicrosoft):
    strategy = "waad"
    tenant = "organizations"

    def __init__(self) -> None:
        super().__init__()
        self.tid = USER_TENANT
        self.user.update(sub="d5Jq9Fh2o0PK0bDz6tqYfWz3dM8tmW9Zc8RsBqpH6ks",
                         oid="5f1c3b6e-2a7d-4f60-9a0e-6d1e0b3a9c21",
                         email="jane@contoso.com", preferred_username="jane@contoso.com")
        self.optional_claims = {"xms_edov": True}

    def connection_options(self) -> dict[str, Any]:
        return {**super().connection_options(), "tenant": self.tenant}

    def expected_profile(self) -> dict[str, Any]:
        return {**super().expected_profile(), "email_verified": True}


STRATEGY = "waad"
make_fake = FakeEntra
