"""The one store interface the rest of the broker uses: :class:`Store`, made of one part per
concept, each in a module of its own (the plumbing they share is in store_base.py). Modules
that work on a ``Store`` (session_store.py, user_writes.py, …) hold the SQL of other concepts.

Every sealed value is bound to its row by associated data (``_aad_*``), and every secret of
our own is looked up by its keyed digest, so the database never holds either in the clear.
"""

from __future__ import annotations

from idbroker.vault.audit_store import AuditStore
from idbroker.vault.client_store import ClientStore
# The associated data of each sealed column, here too for vault-key rotation (rotation.py)
# and the modules that write a sealed column of their own.
from idbroker.vault.connection_store import ConnectionStore, _aad_connection
from idbroker.vault.login_store import LoginStore, identity_aad
from idbroker.vault.login_transaction_store import LoginTransactionStore, _aad_transaction
from idbroker.vault.oauth_grant_store import OAuthGrantStore
from idbroker.vault.signing_key_store import SigningKeyStore, _aad_signing_key

__all__ = ["Store", "_aad_connection", "_aad_signing_key", "_aad_transaction", "identity_aad"]


class Store(ClientStore, ConnectionStore, SigningKeyStore, LoginTransactionStore, LoginStore,
            OAuthGrantStore, AuditStore):
    """Clients and client grants, connections, signing keys, login transactions, recorded
    logins, the broker's OAuth grants, codes and refresh tokens, and the audit log."""
