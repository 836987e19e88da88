"""The one typed settings object. Nothing else in the project reads ``os.environ``."""

from __future__ import annotations

import ipaddress
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(str, Enum):
    development = "development"
    production = "production"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDBROKER_", extra="ignore")

    mode: Mode = Mode.development
    issuer: str = "http://127.0.0.1:8000/"
    data_dir: Path = Path(".idbroker")
    database_url: str | None = None
    vault_key: SecretStr | None = Field(
        default=None, description="base64url-encoded 32-byte AES-256 key; overrides the key file"
    )
    vault_key_file: Path | None = None
    demo: bool = False
    log_level: str = "INFO"

    id_token_ttl: int = 36_000
    access_token_ttl: int = 86_400
    authorization_code_ttl: int = 60
    login_transaction_ttl: int = 600
    refresh_token_ttl: int = 30 * 86_400
    upstream_timeout: float = 10.0
    # Upstream IdPs over plain http are only for local development and the demo.
    allow_insecure_upstreams: bool | None = None
    max_body_bytes: int = 64 * 1024

    @field_validator("issuer")
    @classmethod
    def _issuer_has_trailing_slash(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("IDBROKER_ISSUER must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("IDBROKER_ISSUER must not carry a query or fragment")
        return value if value.endswith("/") else value + "/"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'idbroker.db').resolve()}"

    @property
    def resolved_vault_key_file(self) -> Path:
        return self.vault_key_file or self.data_dir / "vault.key"

    @property
    def management_audience(self) -> str:
        return f"{self.issuer}api/v2/"

    @property
    def management_audience_aliases(self) -> frozenset[str]:
        # auth0-python always names the Management API https://{domain}/api/v2/, even when
        # it reaches the broker over plain http on loopback (see auth0_compat.md §7).
        host = urlsplit(self.issuer).netloc
        path = urlsplit(self.issuer).path
        return frozenset({self.management_audience, f"https://{host}{path}api/v2/"})

    @property
    def insecure_upstreams_allowed(self) -> bool:
        if self.allow_insecure_upstreams is not None:
            return self.allow_insecure_upstreams
        return self.mode is Mode.development

    def production_problems(self, *, vault_key_required: bool = True) -> list[str]:
        """Every reason this configuration must not serve real users. ``idbroker init`` passes
        ``vault_key_required=False`` because creating the key file is its job."""
        if self.mode is not Mode.production:
            return []
        problems = []
        parts = urlsplit(self.issuer)
        if parts.scheme != "https" and not is_loopback_host(parts.hostname):
            problems.append("IDBROKER_ISSUER must use https in production")
        if self.demo:
            problems.append("the demo (IDBROKER_DEMO) cannot run in production")
        if (vault_key_required and self.vault_key is None
                and not self.resolved_vault_key_file.exists()):
            problems.append(
                "no vault key: set IDBROKER_VAULT_KEY or create the key file with `idbroker init`"
            )
        if self.allow_insecure_upstreams:
            problems.append("IDBROKER_ALLOW_INSECURE_UPSTREAMS cannot be on in production")
        return problems
