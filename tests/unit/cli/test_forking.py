"""`idbroker serve --workers N` forks only when no other thread runs (cli/forking.py)."""

from __future__ import annotations

import threading

from idbroker.cli.forking import threads_left


def test_a_thread_that_is_ending_is_waited_for() -> None:
    go = threading.Event()
    ending = threading.Thread(target=go.wait)
    ending.start()
    threading.Timer(0.05, go.set).start()
    assert ending not in threads_left(wait_s=2.0)
    assert not ending.is_alive()


def test_a_thread_that_lives_on_prevents_the_fork() -> None:
    stop = threading.Event()
    living = threading.Thread(target=stop.wait, daemon=True)
    living.start()
    try:
        assert living in threads_left(wait_s=0.05)
    finally:
        stop.set()
        living.join()
