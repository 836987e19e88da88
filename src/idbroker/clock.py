"""Time in one place, so expiry logic reads the same everywhere."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now_ms() -> int:
    return int(time.time() * 1000)


def now_s() -> int:
    return int(time.time())


def iso_ms(epoch_ms: int | None) -> str | None:
    """Auth0's timestamp format: ISO-8601, UTC, milliseconds, trailing Z."""
    if epoch_ms is None:
        return None
    stamp = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
