"""Rate-limit counters, free of any web framework: fixed windows aligned on the epoch, so
every process (and Redis) agrees on when a window starts and resets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from idbroker.settings import Settings


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    def retry_after(self, now: float) -> int:
        return max(1, int(self.reset - now + 0.999))


class Counter(Protocol):
    async def hit(self, key: str, limit: int, window: int, now: float) -> Decision: ...

    async def close(self) -> None: ...


def window_of(now: float, window: int) -> tuple[int, int]:
    start = int(now) // window * window
    return start, start + window


def decide(count: int, limit: int, reset: int) -> Decision:
    return Decision(allowed=count <= limit, limit=limit, remaining=max(0, limit - count),
                    reset=reset)


def open_counter(settings: Settings) -> Counter:
    if settings.redis_url is not None:
        from idbroker.ratelimit.redis_counter import RedisCounter
        return RedisCounter(settings.redis_url.get_secret_value())
    from idbroker.ratelimit.memory import MemoryCounter
    return MemoryCounter()
