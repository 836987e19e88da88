"""Facts about the current request that deep code needs for its audit records (the caller's
address), carried in a context variable so every grant keeps one plain signature."""

from __future__ import annotations

from contextvars import ContextVar

caller_ip: ContextVar[str | None] = ContextVar("caller_ip", default=None)
