"""The Management API's resources (``{issuer}api/v2/``), framework-free so that the CLI
calls the very same code as the HTTP routes."""
