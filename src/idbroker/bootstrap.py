"""`idbroker init`: the data directory, the vault key, the schema, a signing key and a
machine-to-machine client holding every Management API scope. Running it again changes
nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idbroker.management import clients
from idbroker.oauth.scopes import MANAGEMENT_SCOPES
from idbroker.runtime import Runtime
from idbroker.settings import Settings
from idbroker.vault.crypto import Vault
from idbroker.vault.db import create_engine, migrate, startup_lock
from idbroker.vault.keyfile import create_key_file, load_vault_keys
from idbroker.vault.signing import SigningKeys
from idbroker.vault.store import Store

BOOTSTRAP_CLIENT_NAME = "idbroker bootstrap (Management API)"


@dataclass
class InitResult:
    created: list[str]
    client_id: str
    client_secret: str | None
    issuer: str
    audience: str

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "created" if self.created else "unchanged", "created": self.created,
            "client_id": self.client_id, "issuer": self.issuer, "audience": self.audience,
            "token_endpoint": f"{self.issuer}oauth/token",
        }
        if self.client_secret is not None:
            body["client_secret"] = self.client_secret
        return body


async def initialise(settings: Settings) -> InitResult:
    created: list[str] = []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.vault_key is None and create_key_file(settings.resolved_vault_key_file):
        created.append(f"vault key file {settings.resolved_vault_key_file}")
    engine = create_engine(settings.sqlalchemy_url)
    try:
        # Several processes may start at once against one PostgreSQL (docs/deployment.md):
        # one creates, the others wait and then find everything there.
        async with startup_lock(engine):
            if await migrate(engine):
                created.append("database schema")
            if await SigningKeys().ensure(Store(engine, Vault(load_vault_keys(settings)))):
                created.append("signing key")
            rt = await Runtime.start(settings, apply_migrations=False)
            try:
                client_id, secret = await ensure_bootstrap_client(rt)
                if secret is not None:
                    created.append("bootstrap client")
            finally:
                await rt.close()
    finally:
        await engine.dispose()
    return InitResult(created=created, client_id=client_id, client_secret=secret,
                      issuer=settings.issuer, audience=settings.management_audience)


async def ensure_bootstrap_client(rt: Runtime) -> tuple[str, str | None]:
    for existing in await rt.store.list_clients():
        if existing.name == BOOTSTRAP_CLIENT_NAME:
            return existing.client_id, None
    body = await clients.create(rt.store, {"name": BOOTSTRAP_CLIENT_NAME, "app_type": "non_interactive"})
    await rt.store.create_client_grant(body["client_id"], rt.settings.management_audience,
                                       list(MANAGEMENT_SCOPES))
    return body["client_id"], body["client_secret"]
