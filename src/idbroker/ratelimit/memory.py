"""In-process counters: the default, exact for one process (each process has its own budget)."""

from __future__ import annotations

from idbroker.ratelimit import Decision, decide, window_of

_PRUNE_AT = 10_000


class MemoryCounter:
    def __init__(self) -> None:
        # (bucket, window start) -> (hits, window end)
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window: int, now: float) -> Decision:
        start, reset = window_of(now, window)
        if len(self._counts) > _PRUNE_AT:
            # Bounded memory under many distinct callers: forget windows that have ended.
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        count = self._counts.get((key, start), (0, reset))[0] + 1
        self._counts[(key, start)] = (count, reset)
        return decide(count, limit, reset)

    async def close(self) -> None:
        self._counts.clear()
