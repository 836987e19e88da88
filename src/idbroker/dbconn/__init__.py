"""Database connections (Auth0 strategy ``auth0``): username/password accounts the broker
keeps itself. See docs/database-connections.md."""

STRATEGY = "auth0"
