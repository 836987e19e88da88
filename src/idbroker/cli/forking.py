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
"""

from __future__ import annotations

import multiprocessing
import threading


def fork_workers() -> bool:
    """Make uvicorn fork its workers; return True when it will."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return False
    try:
        from uvicorn import _subprocess
    except ImportError:  # another uvicorn layout: keep its own way
        return False
    if not hasattr(_subprocess, "spawn"):
        return False
    import idbroker.http.app  # noqa: F401  (imported once here, inherited by every worker)

    _subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]
    return True
