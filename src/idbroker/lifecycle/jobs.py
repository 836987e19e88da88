"""Periodic background jobs, run by `idbroker worker` (and by `idbroker serve` when enabled).

Each job does one bounded batch per call and returns how many items it handled; jobs must be
safe to run in several processes at once (they claim work with conditional updates or row
locks), so any number of workers can share one database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from idbroker.runtime import Runtime


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run_once: Callable[[Runtime], Awaitable[int]]


JOBS: list[Job] = []


def register(name: str, interval_s: float) -> Callable[[Callable[[Runtime], Awaitable[int]]],
                                                         Callable[[Runtime], Awaitable[int]]]:
    def add(fn: Callable[[Runtime], Awaitable[int]]) -> Callable[[Runtime], Awaitable[int]]:
        JOBS.append(Job(name, interval_s, fn))
        return fn
    return add
