"""Initial schema: users, identities, clients, connections, grants, keys, audit log.

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('date', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=300), nullable=True),
    sa.Column('connection', sa.String(length=128), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_client_id_date', ['client_id', 'date'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_date'), ['date'], unique=False)
        batch_op.create_index('ix_audit_log_type_date', ['type', 'date'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_user_id'), ['user_id'], unique=False)

    op.create_table('authorization_codes',
    sa.Column('code_digest', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('grant_id', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('consumed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code_digest', name=op.f('pk_authorization_codes'))
    )
    op.create_table('clients',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('app_type', sa.String(length=32), nullable=False),
    sa.Column('secret_digest', sa.String(length=64), nullable=True),
    sa.Column('token_endpoint_auth_method', sa.String(length=32), nullable=False),
    sa.Column('callbacks', sa.JSON(), nullable=False),
    sa.Column('allowed_logout_urls', sa.JSON(), nullable=False),
    sa.Column('web_origins', sa.JSON(), nullable=False),
    sa.Column('grant_types', sa.JSON(), nullable=False),
    sa.Column('is_first_party', sa.Boolean(), nullable=False),
    sa.Column('token_exchange_connections', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_clients'))
    )
    op.create_table('connections',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('secrets_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('enabled_clients', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connections')),
    sa.UniqueConstraint('name', name=op.f('uq_connections_name'))
    )
    op.create_table('event_endpoints',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_endpoints'))
    )
    op.create_table('event_outbox',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_outbox'))
    )
    with op.batch_alter_table('event_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_outbox_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_outbox_status'), ['status'], unique=False)

    op.create_table('grants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants'))
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grants_user_id'), ['user_id'], unique=False)

    op.create_table('login_failures',
    sa.Column('account', sa.String(length=96), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('blocked_at', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account', 'ip', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failures_updated_at'), ['updated_at'], unique=False)

    op.create_table('login_transactions',
    sa.Column('state_digest', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('state_digest', name=op.f('pk_login_transactions'))
    )
    with op.batch_alter_table('login_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_transactions_expires_at'), ['expires_at'], unique=False)

    op.create_table('login_states_used',
    sa.Column('state_digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('state_digest', name=op.f('pk_login_states_used'))
    )
    with op.batch_alter_table('login_states_used', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_states_used_expires_at'), ['expires_at'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('grant_id', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('used', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('token_digest', name=op.f('pk_refresh_tokens'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_grant_id'), ['grant_id'], unique=False)

    op.create_table('resource_servers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('identifier', sa.String(length=600), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('token_lifetime', sa.Integer(), nullable=False),
    sa.Column('signing_alg', sa.String(length=16), nullable=False),
    sa.Column('enforce_policies', sa.Boolean(), nullable=False),
    sa.Column('allow_offline_access', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_servers')),
    sa.UniqueConstraint('identifier', name=op.f('uq_resource_servers_identifier'))
    )
    op.create_table('revocation_outbox',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('identity_id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('connection', sa.String(length=128), nullable=False),
    sa.Column('tokens_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revocation_outbox'))
    )
    with op.batch_alter_table('revocation_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revocation_outbox_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_revocation_outbox_status'), ['status'], unique=False)

    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('cert_pem', sa.Text(), nullable=True),
    sa.Column('current_since', sa.BigInteger(), nullable=True),
    sa.Column('current_until', sa.BigInteger(), nullable=True),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_keys'))
    )
    op.create_table('users',
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('email_verified', sa.Boolean(), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('given_name', sa.String(length=150), nullable=True),
    sa.Column('family_name', sa.String(length=150), nullable=True),
    sa.Column('nickname', sa.String(length=300), nullable=True),
    sa.Column('picture', sa.String(length=2048), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('app_metadata', sa.JSON(), nullable=False),
    sa.Column('user_metadata', sa.JSON(), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('last_login', sa.BigInteger(), nullable=True),
    sa.Column('last_ip', sa.String(length=64), nullable=True),
    sa.Column('logins_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_users'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_last_login'), ['last_login'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_logins_count'), ['logins_count'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_nickname'), ['nickname'], unique=False)

    op.create_table('client_grants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('audience', sa.String(length=600), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_client_grants_client_id_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_grants')),
    sa.UniqueConstraint('client_id', 'audience', name='uq_client_grants_client_audience')
    )
    op.create_table('consents',
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.user_id'], name=op.f('fk_consents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'client_id', name=op.f('pk_consents'))
    )
    op.create_table('credential_tickets',
    sa.Column('digest', sa.String(length=96), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('binding_digest', sa.String(length=96), nullable=True),
    sa.Column('consumed', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.user_id'], name=op.f('fk_credential_tickets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_credential_tickets'))
    )
    with op.batch_alter_table('credential_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credential_tickets_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_credential_tickets_user_id'), ['user_id'], unique=False)

    op.create_table('event_deliveries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('endpoint_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_id'], ['event_endpoints.id'], name=op.f('fk_event_deliveries_endpoint_id_event_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['event_outbox.id'], name=op.f('fk_event_deliveries_event_id_event_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_deliveries')),
    sa.UniqueConstraint('event_id', 'endpoint_id', name='uq_event_deliveries_event_endpoint')
    )
    with op.batch_alter_table('event_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_deliveries_endpoint_id'), ['endpoint_id'], unique=False)
        batch_op.create_index('ix_event_deliveries_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('identities',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('connection', sa.String(length=128), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('issuer', sa.String(length=600), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('idp_user_id', sa.String(length=300), nullable=False),
    sa.Column('is_social', sa.Boolean(), nullable=False),
    sa.Column('profile_data', sa.JSON(), nullable=False),
    sa.Column('tokens_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('token_expires_at', sa.BigInteger(), nullable=True),
    sa.Column('granted_scopes', sa.JSON(), nullable=False),
    sa.Column('token_status', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.user_id'], name=op.f('fk_identities_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('connection_id', 'issuer', 'subject', name='uq_identities_connection_issuer_subject')
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index('ix_identities_connection', ['connection'], unique=False)
        batch_op.create_index('ix_identities_provider_idp_user_id', ['provider', 'idp_user_id'], unique=False)
        batch_op.create_index('ix_identities_token_expires_at', ['token_expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_identities_user_id'), ['user_id'], unique=False)

    op.create_table('password_credentials',
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('username', sa.String(length=128), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.user_id'], name=op.f('fk_password_credentials_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'connection_id', name=op.f('pk_password_credentials')),
    sa.UniqueConstraint('connection_id', 'email', name='uq_password_credentials_conn_email'),
    sa.UniqueConstraint('connection_id', 'username', name='uq_password_credentials_conn_username')
    )
    op.create_table('sessions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('cookie_digest', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=300), nullable=False),
    sa.Column('connection', sa.String(length=128), nullable=False),
    sa.Column('clients', sa.JSON(), nullable=False),
    sa.Column('auth_time', sa.BigInteger(), nullable=False),
    sa.Column('last_active_at', sa.BigInteger(), nullable=False),
    sa.Column('idle_expires_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.user_id'], name=op.f('fk_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')),
    sa.UniqueConstraint('cookie_digest', name=op.f('uq_sessions_cookie_digest'))
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_idle_expires_at'), ['idle_expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('identity_refresh',
    sa.Column('identity_id', sa.String(length=40), nullable=False),
    sa.Column('lease_owner', sa.String(length=40), nullable=True),
    sa.Column('lease_until', sa.BigInteger(), nullable=True),
    sa.Column('not_before', sa.BigInteger(), nullable=True),
    sa.Column('failing_since', sa.BigInteger(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('refreshed_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], name=op.f('fk_identity_refresh_identity_id_identities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('identity_id', name=op.f('pk_identity_refresh'))
    )


def downgrade() -> None:
    op.drop_table('identity_refresh')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_sessions_idle_expires_at'))

    op.drop_table('sessions')
    op.drop_table('password_credentials')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_user_id'))
        batch_op.drop_index('ix_identities_token_expires_at')
        batch_op.drop_index('ix_identities_provider_idp_user_id')
        batch_op.drop_index('ix_identities_connection')

    op.drop_table('identities')
    with op.batch_alter_table('event_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_event_deliveries_status_next')
        batch_op.drop_index(batch_op.f('ix_event_deliveries_endpoint_id'))

    op.drop_table('event_deliveries')
    with op.batch_alter_table('credential_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credential_tickets_user_id'))
        batch_op.drop_index(batch_op.f('ix_credential_tickets_expires_at'))

    op.drop_table('credential_tickets')
    op.drop_table('consents')
    op.drop_table('client_grants')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_nickname'))
        batch_op.drop_index(batch_op.f('ix_users_name'))
        batch_op.drop_index(batch_op.f('ix_users_logins_count'))
        batch_op.drop_index(batch_op.f('ix_users_last_login'))
        batch_op.drop_index(batch_op.f('ix_users_email'))
        batch_op.drop_index(batch_op.f('ix_users_created_at'))

    op.drop_table('users')
    op.drop_table('signing_keys')
    with op.batch_alter_table('revocation_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revocation_outbox_status'))
        batch_op.drop_index(batch_op.f('ix_revocation_outbox_next_attempt_at'))

    op.drop_table('revocation_outbox')
    op.drop_table('resource_servers')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_grant_id'))

    op.drop_table('refresh_tokens')
    with op.batch_alter_table('login_states_used', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_states_used_expires_at'))

    op.drop_table('login_states_used')
    with op.batch_alter_table('login_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_transactions_expires_at'))

    op.drop_table('login_transactions')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failures_updated_at'))

    op.drop_table('login_failures')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grants_user_id'))

    op.drop_table('grants')
    with op.batch_alter_table('event_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_outbox_status'))
        batch_op.drop_index(batch_op.f('ix_event_outbox_next_attempt_at'))

    op.drop_table('event_outbox')
    op.drop_table('event_endpoints')
    op.drop_table('connections')
    op.drop_table('clients')
    op.drop_table('authorization_codes')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_user_id'))
        batch_op.drop_index('ix_audit_log_type_date')
        batch_op.drop_index(batch_op.f('ix_audit_log_date'))
        batch_op.drop_index('ix_audit_log_client_id_date')

    op.drop_table('audit_log')
