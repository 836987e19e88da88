"""The background worker: every registered job (lifecycle/jobs.py) on its own interval, until
told to stop. Run by ``idbroker worker``, or inside ``idbroker serve --with-worker``.

Each job runs in its own loop, so a job that fails or takes long never delays or stops the
others; a failed run is logged (class and private detail only, never an exception message,
which could quote a library's view of a token) and the job runs again at its next interval.
Jobs claim their work in the database, so any number of workers may run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import threading
import traceback
from collections.abc import Iterable

from idbroker.errors import IdbrokerError
from idbroker.lifecycle.jobs import JOBS, Job
from idbroker.runtime import Runtime
from idbroker.settings import Settings

log = logging.getLogger("idbroker.worker")

# Modules whose import registers a job. A new job module adds its name here.
JOB_MODULES = (
    "idbroker.lifecycle.refresh_ahead",
    "idbroker.lifecycle.revocation",
    "idbroker.lifecycle.events",
)


def load_jobs() -> list[Job]:
    for name in JOB_MODULES:
        importlib.import_module(name)
    return list(JOBS)


async def run_worker(rt: Runtime, stop: asyncio.Event, *,
                     jobs: Iterable[Job] | None = None) -> None:
    """Run every job until ``stop`` is set; a run in progress is let finish."""
    chosen = list(jobs) if jobs is not None else load_jobs()
    log.info("worker started: %s", ", ".join(job.name for job in chosen) or "no jobs")
    await asyncio.gather(*(_loop(rt, job, stop) for job in chosen))
    log.info("worker stopped")


async def _loop(rt: Runtime, job: Job, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await run_job_once(rt, job)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=job.interval_s)


async def run_job_once(rt: Runtime, job: Job) -> int | None:
    """One run of one job, isolated: its failure is logged and returned as None."""
    try:
        handled = await job.run_once(rt)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
        detail = f" ({exc.detail})" if isinstance(exc, IdbrokerError) and exc.detail else ""
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("job %s failed: %s%s\n%s", job.name, type(exc).__name__, detail, frames)
        return None
    if handled:
        log.info("job %s: %d handled", job.name, handled)
    return handled


async def worker_process(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """``idbroker worker``: its own runtime, stopped by SIGINT/SIGTERM (or ``stop``)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    rt = await Runtime.start(settings)
    try:
        await run_worker(rt, stop)
    finally:
        await rt.close()


class WorkerThread:
    """The worker beside ``idbroker serve``: a thread with its own event loop and runtime in
    the serving command's process, so it runs once whatever ``--workers N`` is (uvicorn's
    worker processes are identical and cannot tell which one should run it)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="idbroker-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=10)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await worker_process(self._settings, self._stop)
        try:
            asyncio.run(main())
        finally:
            self._ready.set()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended on its own
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)
