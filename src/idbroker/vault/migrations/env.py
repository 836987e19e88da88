"""Alembic environment: migrations always run on a connection handed in by ``vault.db``."""

from alembic import context

from idbroker.vault.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `idbroker init` (idbroker.vault.db.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
