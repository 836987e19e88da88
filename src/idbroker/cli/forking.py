"""`idbroker serve --workers N`: workers forked from the serving process, not spawned.

uvicorn starts its workers with multiprocessing's "spawn": each is a fresh interpreter that
imports the `idbroker` command and the whole application again before it can answer — on a
2-core machine most of the start-up time (docs/performance.md). Forked from a process that has
already imported the application (as gunicorn's --preload does), a worker only builds its
runtime: its own engine, keys and caches, made in the child after the fork, so no connection,
thread or event loop is shared with the parent. The parent holds none at that point: `initialise`
ran in an event loop that is closed, its engine disposed.

Forking is used only where it is safe: on a platform that has it, and with no other thread
running (``--with-worker`` runs the background jobs in a thread; then uvicorn spawns, as before).
A thread that is only ending is waited for: aiosqlite's connection thread outlives the closing
of its connection by a moment, so right after `initialise` one was often still there, and one
start in three or four fell back to spawning (seconds slower, docs/performance.md).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import threading
import time

log = logging.getLogger(__name__)

# How long threads still running at the fork are given to end; a thread that lives on
# (not one of ours at this point) makes uvicorn spawn, as it would without this module.
ENDING_THREADS_WAIT_S = 0.5

# What every worker would otherwise import after the fork, for the choices `serve` leaves at
# "auto" (uvicorn's Config.load and its event loop): httptools, uvloop and their protocol
# modules, ~40-60 ms of each worker's start.
WORKER_MODULES = ("uvicorn.protocols.http.auto", "uvicorn.lifespan.on", "uvicorn.loops.auto",
                  "uvloop")


def fork_workers() -> bool:
    """Make uvicorn fork its workers; return True when it will."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        from uvicorn import _subprocess
    except ImportError:  # another uvicorn layout: keep its own way
        return False
    if not hasattr(_subprocess, "spawn"):
        return False
    import idbroker.http.app  # noqa: F401  (imported once here, inherited by every worker)

    for name in WORKER_MODULES:
        with contextlib.suppress(ImportError):  # uvicorn falls back, in the worker, as it would
            importlib.import_module(name)

    left = threads_left(ENDING_THREADS_WAIT_S)
    if left:
        log.info("workers are spawned, not forked: threads running: %s",
                 ", ".join(t.name for t in left))
        return False
    _subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]
    return True


def threads_left(wait_s: float) -> list[threading.Thread]:
    """The threads other than the caller's still running after waiting up to ``wait_s`` in
    all for them to end."""
    deadline = time.monotonic() + wait_s
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in others if t.is_alive()]
