"""Table definitions. Alembic migrations in ``vault/migrations`` create exactly these.

Times are integer epoch milliseconds: portable between SQLite and PostgreSQL and exact
enough for Auth0's millisecond ISO-8601 timestamps.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Millis = sa.BigInteger

users = sa.Table(
    "users", metadata,
    sa.Column("user_id", sa.String(300), primary_key=True),
    sa.Column("email", sa.String(320), index=True),
    sa.Column("email_verified", sa.Boolean, nullable=False, default=False),
    sa.Column("username", sa.String(128)),
    sa.Column("name", sa.String(300), index=True),
    sa.Column("given_name", sa.String(150)),
    sa.Column("family_name", sa.String(150)),
    sa.Column("nickname", sa.String(300), index=True),
    sa.Column("picture", sa.String(2048)),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("app_metadata", sa.JSON, nullable=False, default=dict),
    sa.Column("user_metadata", sa.JSON, nullable=False, default=dict),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    # Indexed for user search and sort (vault/user_queries.py).
    sa.Column("created_at", Millis, nullable=False, index=True),
    sa.Column("updated_at", Millis, nullable=False),
    sa.Column("last_login", Millis, index=True),
    sa.Column("last_ip", sa.String(64)),
    sa.Column("logins_count", sa.Integer, nullable=False, default=0, index=True),
)

identities = sa.Table(
    "identities", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(300), sa.ForeignKey("users.user_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("connection_id", sa.String(40), nullable=False),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    # The upstream account is (connection, upstream issuer, upstream subject): a connection
    # re-pointed at another IdP never inherits the previous IdP's users.
    sa.Column("issuer", sa.String(600), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    # The id shown in identities[].user_id (Auth0: "{connection}|{sub}" for generic strategies).
    sa.Column("idp_user_id", sa.String(300), nullable=False),
    sa.Column("is_social", sa.Boolean, nullable=False),
    sa.Column("profile_data", sa.JSON, nullable=False, default=dict),
    # AES-256-GCM over the IdP token set, bound to this row's id (see vault/crypto.py).
    sa.Column("tokens_sealed", sa.LargeBinary),
    sa.Column("token_expires_at", Millis),
    sa.Column("granted_scopes", sa.JSON, nullable=False, default=list),
    sa.Column("token_status", sa.String(32), nullable=False, default="none"),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("connection_id", "issuer", "subject",
                        name="uq_identities_connection_issuer_subject"),
    # User search by identities.connection / identities.provider, and account linking's
    # lookup of an identity by (provider, user_id).
    sa.Index("ix_identities_connection", "connection"),
    sa.Index("ix_identities_provider_idp_user_id", "provider", "idp_user_id"),
    # The refresh-ahead job's scan for tokens about to expire.
    sa.Index("ix_identities_token_expires_at", "token_expires_at"),
)

clients = sa.Table(
    "clients", metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, default=""),
    sa.Column("app_type", sa.String(32), nullable=False),
    sa.Column("secret_digest", sa.String(64)),
    sa.Column("token_endpoint_auth_method", sa.String(32), nullable=False),
    sa.Column("callbacks", sa.JSON, nullable=False, default=list),
    sa.Column("allowed_logout_urls", sa.JSON, nullable=False, default=list),
    sa.Column("web_origins", sa.JSON, nullable=False, default=list),
    sa.Column("grant_types", sa.JSON, nullable=False, default=list),
    sa.Column("is_first_party", sa.Boolean, nullable=False, default=True),
    # Connections whose IdP tokens this client may obtain by token exchange (names; default none).
    sa.Column("token_exchange_connections", sa.JSON, nullable=False, default=list),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

# A version per cached kind of row ("clients": clients and client grants), bumped in the same
# transaction as every write to that kind, so each process's cache of it (vault/client_cache.py)
# learns with one primary-key read whether anything changed, in any process, since it filled.
cache_versions = sa.Table(
    "cache_versions", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False, default=0),
)

connections = sa.Table(
    "connections", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200)),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("options", sa.JSON, nullable=False, default=dict),
    # Write-only option values (the upstream client_secret), sealed by the vault.
    sa.Column("secrets_sealed", sa.LargeBinary),
    sa.Column("enabled_clients", sa.JSON, nullable=False, default=list),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

client_grants = sa.Table(
    "client_grants", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("audience", sa.String(600), nullable=False),
    sa.Column("scope", sa.JSON, nullable=False, default=list),
    sa.Column("created_at", Millis, nullable=False),
    sa.UniqueConstraint("client_id", "audience", name="uq_client_grants_client_audience"),
)

signing_keys = sa.Table(
    "signing_keys", metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("private_sealed", sa.LargeBinary, nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # current | next | previous | revoked
    sa.Column("created_at", Millis, nullable=False),
    # Self-signed X.509 certificate of the public key (Auth0 lists keys by certificate).
    sa.Column("cert_pem", sa.Text),
    sa.Column("current_since", Millis),
    sa.Column("current_until", Millis),
    sa.Column("revoked_at", Millis),
)

login_transactions = sa.Table(
    "login_transactions", metadata,
    sa.Column("state_digest", sa.String(64), primary_key=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", Millis, nullable=False, index=True),
)

# The states of login transactions carried in sealed cookies (oauth/login_transaction.py) that
# a callback has used: single use, kept until the state expires.
login_states_used = sa.Table(
    "login_states_used", metadata,
    sa.Column("state_digest", sa.String(64), primary_key=True),
    sa.Column("expires_at", Millis, nullable=False, index=True),
)

authorization_codes = sa.Table(
    "authorization_codes", metadata,
    sa.Column("code_digest", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(300), nullable=False),
    sa.Column("grant_id", sa.String(40), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Column("consumed", sa.Boolean, nullable=False, default=False),
)

# A grant ties together everything one authorization produced (its code, access and refresh
# tokens), so a replayed code or a reused refresh token can revoke all of it at once.
grants = sa.Table(
    "grants", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(300), nullable=False, index=True),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", Millis, nullable=False),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("token_digest", sa.String(64), primary_key=True),
    sa.Column("grant_id", sa.String(40), nullable=False, index=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(300), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("used", sa.Boolean, nullable=False, default=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
)

# A person's sign-in at the broker (docs/sessions.md). The browser holds a random cookie;
# only its keyed digest is stored. ``id`` is the public ``sid`` claim, not a secret.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("cookie_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.String(300), sa.ForeignKey("users.user_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("clients", sa.JSON, nullable=False, default=list),
    sa.Column("auth_time", Millis, nullable=False),
    sa.Column("last_active_at", Millis, nullable=False),
    sa.Column("idle_expires_at", Millis, nullable=False, index=True),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
)

# What a person allowed a third-party application (docs/sessions.md#consent).
consents = sa.Table(
    "consents", metadata,
    sa.Column("user_id", sa.String(300), sa.ForeignKey("users.user_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("scope", sa.JSON, nullable=False, default=list),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("date", Millis, nullable=False, index=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("client_id", sa.String(64)),
    sa.Column("user_id", sa.String(300), index=True),
    sa.Column("connection", sa.String(128)),
    sa.Column("ip", sa.String(64)),
    sa.Column("description", sa.String(500), nullable=False, default=""),
    sa.Column("details", sa.JSON, nullable=False, default=dict),
    # Logs are read newest first or from a checkpoint, filtered by type or client.
    sa.Index("ix_audit_log_type_date", "type", "date"),
    sa.Index("ix_audit_log_client_id_date", "client_id", "date"),
)

# Upstream revocations owed: written in the same transaction as the unlink or delete that makes
# them necessary, so a crash can never lose one (see lifecycle/revocation.py).
revocation_outbox = sa.Table(
    "revocation_outbox", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("identity_id", sa.String(40), nullable=False),
    sa.Column("user_id", sa.String(300), nullable=False),
    sa.Column("connection_id", sa.String(40), nullable=False),
    sa.Column("connection", sa.String(128), nullable=False),
    # The token set being revoked, re-sealed and bound to this outbox row; NULL (purged) once
    # the row reaches a final status.
    sa.Column("tokens_sealed", sa.LargeBinary),
    sa.Column("reason", sa.String(64), nullable=False),
    # pending | done | given_up | unsupported (the connection has no way to revoke)
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", Millis, nullable=False, index=True),
    sa.Column("last_error", sa.String(200)),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

# Events for webhooks, written in the transaction of the change they describe.
event_outbox = sa.Table(
    "event_outbox", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    # pending (not yet fanned out to endpoints) | dispatched (see event_deliveries)
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", Millis, nullable=False, index=True),
    sa.Column("created_at", Millis, nullable=False),
)

# APIs that apps request access tokens for (Auth0 resource servers). The Management API is
# built in and never stored here.
resource_servers = sa.Table(
    "resource_servers", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("identifier", sa.String(600), nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False, default=list),
    sa.Column("token_lifetime", sa.Integer, nullable=False),
    sa.Column("signing_alg", sa.String(16), nullable=False),
    sa.Column("enforce_policies", sa.Boolean, nullable=False, default=False),
    sa.Column("allow_offline_access", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

# Refresh bookkeeping of an identity's IdP tokens (lifecycle/refresh.py), kept out of the
# identities row so the token read path is unchanged. On SQLite the lease is the cross-process
# single-flight claim (PostgreSQL locks the identities row instead); refresh_not_before holds
# off upstream calls after a transient failure (backoff, Retry-After); failing_since marks the
# start of the current run of failures (one event per run, not per attempt).
identity_refresh = sa.Table(
    "identity_refresh", metadata,
    sa.Column("identity_id", sa.String(40),
              sa.ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("lease_owner", sa.String(40)),
    sa.Column("lease_until", Millis),
    sa.Column("not_before", Millis),
    sa.Column("failing_since", Millis),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("refreshed_at", Millis),
)

# Webhook endpoints (lifecycle/events.py). The signing secret is needed to sign each delivery,
# so it is sealed (not digested), bound to the endpoint's id.
event_endpoints = sa.Table(
    "event_endpoints", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", sa.JSON, nullable=False, default=list),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

# One row per (event, endpoint): each endpoint retries on its own schedule, so a failing
# endpoint never holds back the others.
event_deliveries = sa.Table(
    "event_deliveries", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(40), sa.ForeignKey("event_outbox.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("endpoint_id", sa.String(40),
              sa.ForeignKey("event_endpoints.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | given_up
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    # Also the claim: a worker sets it to now + lease before sending, so a crashed worker's
    # delivery becomes due again when the lease runs out.
    sa.Column("next_attempt_at", Millis, nullable=False),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.String(200)),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("event_id", "endpoint_id", name="uq_event_deliveries_event_endpoint"),
    sa.Index("ix_event_deliveries_status_next", "status", "next_attempt_at"),
)

# Database connections (strategy "auth0", dbconn/): the argon2id hash of a user's password,
# with the login identifiers it answers to. Normalised (lower-case) identifiers are unique
# per connection; the password itself is never stored (docs/database-connections.md). One row
# per (user, connection): a linked user may hold accounts of two database connections, and a
# row follows its identity when accounts are linked (vault/linking_store.py).
password_credentials = sa.Table(
    "password_credentials", metadata,
    sa.Column("user_id", sa.String(300), sa.ForeignKey("users.user_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("connection_id", sa.String(40), primary_key=True),
    sa.Column("email", sa.String(320)),
    sa.Column("username", sa.String(128)),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("connection_id", "email", name="uq_password_credentials_conn_email"),
    sa.UniqueConstraint("connection_id", "username",
                        name="uq_password_credentials_conn_username"),
)

# Single-use tickets of database connections: "login" (POST /co/authenticate → /authorize
# ?login_ticket=), "reset" (password reset link), "verify" (email verification link). Only
# the keyed digest of a ticket is stored; redemption is one conditional update.
credential_tickets = sa.Table(
    "credential_tickets", metadata,
    sa.Column("digest", sa.String(96), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(300), sa.ForeignKey("users.user_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("connection_id", sa.String(40), nullable=False),
    sa.Column("client_id", sa.String(64)),
    # Digest of the browser-binding cookie set with a login ticket (none for mailed links).
    sa.Column("binding_digest", sa.String(96)),
    sa.Column("consumed", sa.Boolean, nullable=False, default=False),
    sa.Column("expires_at", Millis, nullable=False, index=True),
    sa.Column("created_at", Millis, nullable=False),
)

# Failed password logins (dbconn/bruteforce.py). ``account`` is the keyed digest of
# (connection, normalised identifier), or "*" for the per-address count across identifiers;
# counted whether or not the account exists, so a block reveals nothing.
login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("account", sa.String(96), primary_key=True),
    sa.Column("ip", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("window_start", Millis, nullable=False),
    sa.Column("blocked_at", Millis),
    sa.Column("updated_at", Millis, nullable=False, index=True),
)
