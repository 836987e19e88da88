"""idbroker: a self-hosted identity broker and vault for identity-provider tokens."""

__version__ = "0.1.0"
