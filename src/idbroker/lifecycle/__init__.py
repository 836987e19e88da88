"""The life of a stored IdP token after login: refresh, revocation, validation, events."""
