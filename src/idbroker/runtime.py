"""The composition root: settings, store, keys, token issuer and upstream connectors, built
once per process and shared by the HTTP layer, the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from idbroker.connectors.base import UpstreamPolicy
from idbroker.connectors.registry import open_connector
from idbroker.oauth.tokens import TokenIssuer
from idbroker.ratelimit import Counter, open_counter
from idbroker.settings import Settings
from idbroker.vault.crypto import Vault
from idbroker.vault.db import create_engine, migrate
from idbroker.vault.keyfile import load_vault_keys
from idbroker.vault.records import Connection
from idbroker.vault.signing import SigningKeys
from idbroker.vault.store import Store

if TYPE_CHECKING:
    from idbroker.vault.pg_pool import PgPool


@dataclass
class Runtime:
    settings: Settings
    store: Store
    keys: SigningKeys
    issuer: TokenIssuer
    _http: httpx.AsyncClient | None  # made on first use: the ``http`` property
    policy: UpstreamPolicy
    _connectors: dict[str, tuple[int, Any]] = field(default_factory=dict)
    _owns_http: bool = True
    # Rate-limit counters (in process, or in Redis when IDBROKER_REDIS_URL is set).
    limiter: Counter | None = None
    # PostgreSQL: the asyncpg pool of the hot reads and the audit writer (vault/pg_pool.py).
    pg_pool: PgPool | None = None

    @classmethod
    async def start(cls, settings: Settings, *, http: httpx.AsyncClient | None = None,
                    apply_migrations: bool = True) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        vault = Vault(load_vault_keys(settings))
        engine = create_engine(settings.sqlalchemy_url)
        store = Store(engine, vault)
        # A previous key stays published until the longest-lived token it signed expired.
        keys = SigningKeys(retain_previous_s=max(
            settings.access_token_ttl, settings.id_token_ttl,
            settings.resource_server_max_token_lifetime))
        pg_pool = None
        try:
            if apply_migrations:
                await migrate(engine)
            if engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
                from idbroker.vault.pg_pool import PgPool
                pg_pool = PgPool(engine, max_size=settings.database_hot_pool_size)
                await pg_pool.open()
                store.reads.use_pool(pg_pool)
                store.audit_writer.use_pool(pg_pool)
            # Fails closed with a wrong vault key: existing keys do not open, and no new one
            # is made over them.
            await keys.ensure(store)
        except BaseException:
            if pg_pool is not None:
                await pg_pool.close()
            await engine.dispose()
            raise
        keys.start_watch(store, settings.signing_keys_check_interval)
        owns_http = http is None
        policy = UpstreamPolicy(allow_insecure=settings.insecure_upstreams_allowed,
                                timeout_s=settings.upstream_timeout)
        return cls(settings=settings, store=store, keys=keys,
                   issuer=TokenIssuer(settings.issuer, keys), _http=http, policy=policy,
                   _owns_http=owns_http, limiter=open_counter(settings), pg_pool=pg_pool)

    async def close(self) -> None:
        await self.keys.stop_watch()
        if self.limiter is not None:
            await self.limiter.close()
        if self._owns_http and self._http is not None:
            await self._http.aclose()
        if self.pg_pool is not None:
            # The audit rows still queued go out through the pool before it closes.
            await self.store.audit_writer.drain()
            await self.pg_pool.close()
        await self.store.close()

    @property
    def http(self) -> httpx.AsyncClient:
        """The client of upstream calls, made when first needed: its TLS context (loading the
        CA bundle) was ~80 ms of CPU in every start, and a process may serve for a long time
        before its first upstream call, if ever (docs/performance.md, start-up)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.settings.upstream_timeout, follow_redirects=False,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
        return self._http

    @property
    def callback_url(self) -> str:
        return f"{self.settings.issuer}login/callback"

    def connector(self, connection: Connection) -> Any:
        """One connector per connection version, so discovery and JWKS caches survive
        between logins and are dropped when the connection changes."""
        cached = self._connectors.get(connection.id)
        if cached is not None and cached[0] == connection.updated_at:
            return cached[1]
        connector = open_connector(name=connection.name, strategy=connection.strategy,
                                   options=connection.options, secrets=connection.secrets,
                                   http=self.http, policy=self.policy)
        self._connectors[connection.id] = (connection.updated_at, connector)
        return connector
