"""The ``idbroker`` command."""
