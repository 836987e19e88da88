"""Storage and cryptography: the database, the AEAD vault for IdP tokens, signing keys."""
