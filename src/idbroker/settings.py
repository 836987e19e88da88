"""The one typed settings object. Nothing else in the project reads ``os.environ``."""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(str, Enum):
    development = "development"
    production = "production"


# The languages of the hosted pages: one catalog each in http/locales/ (a test keeps the two
# lists equal).
HOSTED_PAGE_LOCALES = ("en", "de", "es")


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class RateLimit(BaseModel):
    """``limit`` requests per fixed ``window`` of seconds (docs/rate-limits.md)."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(ge=1)
    window: int = Field(default=60, ge=1, le=86_400)


# Generous: a busy single tenant, and the whole test suite, stay far below them.
DEFAULT_RATE_LIMITS = {
    "management": RateLimit(limit=6000, window=60),
    "token": RateLimit(limit=3000, window=60),
    "authorize": RateLimit(limit=3000, window=60),
    "userinfo": RateLimit(limit=6000, window=60),
    "discovery": RateLimit(limit=6000, window=60),
    # Password logins and sign-ups cost an argon2id hash each: fewer per address.
    "password": RateLimit(limit=300, window=60),
    "other": RateLimit(limit=6000, window=60),
}


class RateLimits(BaseModel):
    """IDBROKER_RATE_LIMITS, as JSON: per endpoint group, and per client_id and group."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    groups: dict[str, RateLimit] = Field(default_factory=dict)
    clients: dict[str, dict[str, RateLimit]] = Field(default_factory=dict)

    def for_group(self, group: str, client_id: str | None = None) -> RateLimit:
        if client_id is not None and group in self.clients.get(client_id, {}):
            return self.clients[client_id][group]
        return self.groups.get(group) or DEFAULT_RATE_LIMITS.get(group) \
            or DEFAULT_RATE_LIMITS["other"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDBROKER_", extra="ignore")

    mode: Mode = Mode.development
    issuer: str = "http://127.0.0.1:8000/"
    data_dir: Path = Path(".idbroker")
    database_url: str | None = None
    # PostgreSQL only: connections per worker process of the asyncpg pool that serves the
    # request hot paths (user, client and client-grant reads, audit rows; vault/pg_pool.py),
    # on top of SQLAlchemy's pool (10 + 10 overflow) for everything else. One connection is
    # opened at start-up, more as the load needs them; callers queue when all are busy. The
    # statements are short, so a few connections keep a worker's event loop busy
    # (docs/deployment.md).
    database_hot_pool_size: int = Field(default=4, ge=1, le=100)
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
    # Broker login sessions (docs/sessions.md): Auth0's defaults, 3 days idle, 30 days in all.
    session_idle_ttl: int = Field(default=3 * 86_400, gt=0)
    session_absolute_ttl: int = Field(default=30 * 86_400, gt=0)
    upstream_timeout: float = 10.0
    # Upstream IdPs over plain http are only for local development and the demo.
    allow_insecure_upstreams: bool | None = None
    max_body_bytes: int = 64 * 1024
    # Upstream token refresh (lifecycle/refresh.py, docs/token-refresh.md).
    refresh_margin_s: int = Field(default=60, ge=0)
    assumed_token_lifetime_s: int = Field(default=3600, gt=0)
    refresh_failure_cooldown_s: float = Field(default=30.0, ge=0)
    refresh_ahead_window_s: int = Field(default=300, ge=0)
    worker_in_serve: bool = False
    # Signing keys and APIs (docs/signing-keys.md, docs/resource-servers.md).
    signing_keys_check_interval: float = Field(default=5.0, ge=0)
    resource_server_max_token_lifetime: int = Field(default=2_592_000, ge=60)
    # Rate limits (docs/rate-limits.md). The Redis URL may hold a password.
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    redis_url: SecretStr | None = None
    trusted_proxies: str = Field(default="", description="comma-separated CIDRs")
    # Upstream revocation (lifecycle/revocation.py): retried with exponential backoff and
    # jitter from the first delay up to the cap, and given up this long after it was queued.
    revocation_give_up_after_s: int = Field(default=86_400, ge=0)
    revocation_retry_first_s: float = Field(default=30.0, gt=0)
    revocation_retry_max_s: float = Field(default=3600.0, gt=0)
    # Webhook deliveries (lifecycle/events.py, docs/events.md): a short timeout per attempt,
    # exponential backoff with jitter from the first delay up to the cap, given up this long
    # after the event.
    event_delivery_timeout_s: float = Field(default=5.0, gt=0, le=30)
    event_retry_first_s: float = Field(default=30.0, gt=0)
    event_retry_max_s: float = Field(default=3600.0, gt=0)
    event_give_up_after_s: int = Field(default=3 * 86_400, ge=0)
    # Database connections (dbconn/, docs/database-connections.md). argon2id at OWASP's
    # first recommendation: 19 MiB, 2 passes, 1 lane.
    password_hash_memory_kib: int = Field(default=19_456, ge=8, le=4_194_304)
    password_hash_time_cost: int = Field(default=2, ge=1, le=100)
    password_hash_parallelism: int = Field(default=1, ge=1, le=64)
    brute_force_max_attempts: int = Field(default=10, ge=1)
    brute_force_block_s: int = Field(default=86_400, ge=60)
    brute_force_ip_limit: int = Field(default=100, ge=1)
    brute_force_ip_window_s: int = Field(default=3600, ge=60)
    login_ticket_ttl: int = Field(default=60, ge=5, le=600)
    password_reset_ticket_ttl: int = Field(default=3600, ge=60)
    email_verification_ticket_ttl: int = Field(default=5 * 86_400, ge=60)
    # Mail (dbconn/mailer.py, docs/mailer.md): SMTP when a host is set, else .eml files.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    smtp_timeout: float = Field(default=10.0, gt=0, le=120)
    mail_from: str = "idbroker <no-reply@localhost>"
    mail_outbox_dir: Path | None = None
    # Hosted pages (docs/hosted-pages.md). Colours and the logo URL end up in CSS and HTML,
    # so they are held to strict shapes here rather than escaped later.
    default_locale: str = "en"
    branding_name: str = Field(default="idbroker", min_length=1, max_length=80)
    branding_logo_url: str | None = None
    branding_primary_color: str = "#1f5fbf"
    branding_page_background: str = "#f4f5f7"

    @field_validator("default_locale")
    @classmethod
    def _locale_is_supported(cls, value: str) -> str:
        if value not in HOSTED_PAGE_LOCALES:
            raise ValueError("IDBROKER_DEFAULT_LOCALE must be one of "
                             + ", ".join(HOSTED_PAGE_LOCALES))
        return value

    @field_validator("branding_primary_color", "branding_page_background")
    @classmethod
    def _colour_is_hex(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError("a branding colour must be written #rrggbb")
        return value.lower()

    @field_validator("branding_logo_url")
    @classmethod
    def _logo_is_https_or_relative(cls, value: str | None) -> str | None:
        if not value:
            return None
        if len(value) > 2048 or not re.fullmatch(r"[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]+", value):
            raise ValueError("IDBROKER_BRANDING_LOGO_URL contains characters a URL cannot have")
        parts = urlsplit(value)
        relative = not parts.scheme and not parts.netloc and value.startswith("/") \
            and not value.startswith("//")
        absolute = parts.scheme == "https" and bool(parts.hostname) and "@" not in parts.netloc
        if not (relative or absolute):
            raise ValueError("IDBROKER_BRANDING_LOGO_URL must be an https URL or a path "
                             "starting with /")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_cidrs(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                ipaddress.ip_network(item.strip(), strict=False)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in self.trusted_proxies.split(",") if item.strip())

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
        if self.smtp_host and self.smtp_security == "none" and not is_loopback_host(self.smtp_host):
            # Reset links are credentials: plain SMTP only to a relay on this machine.
            problems.append("IDBROKER_SMTP_SECURITY=none needs a loopback IDBROKER_SMTP_HOST "
                            "in production")
        return problems
