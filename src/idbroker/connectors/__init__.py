"""Upstream identity providers, one small module each, behind ``connectors.base``.

Connectors import only ``errors``, ``vault.records`` (plain data) and ``httpx``; the HTTP
client is injected so that tests hand them a fake upstream.
"""
