"""The authorization server's protocol core. Framework-free: no Starlette in here."""
