"""Counters in Redis, so several idbroker processes share one budget.

One Lua script per hit: INCR and, on the window's first hit, EXPIRE — atomic, one round trip.
If Redis cannot be reached the request is let through (fail open) and a warning is logged:
an unavailable limiter must not take the whole broker down with it.
"""

from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from idbroker.ratelimit import Decision, decide, window_of

log = logging.getLogger(__name__)

_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisCounter:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(_HIT)

    async def hit(self, key: str, limit: int, window: int, now: float) -> Decision:
        start, reset = window_of(now, window)
        try:
            count = int(await self._script(keys=[f"idbroker:rl:{key}:{start}"],
                                           args=[window + 1]))
        except (RedisError, OSError) as exc:
            log.warning("rate-limit store unavailable (%s); request allowed", type(exc).__name__)
            return Decision(allowed=True, limit=limit, remaining=limit, reset=reset)
        return decide(count, limit, reset)

    async def close(self) -> None:
        await self._redis.aclose()
