"""Under steady audit load the SQLite write-ahead log is rewound, so its file stays bounded
(vault/audit_writer.py): before, the inline commits kept appending while the checkpoint thread
copied, SQLite never rewound the log, and it grew by ~45 MB a second at full read load."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from idbroker.ids import time_ordered_id
from idbroker.vault import audit_writer
from idbroker.vault import schema as t
from idbroker.vault.audit_writer import AuditWriter
from idbroker.vault.db import create_engine

WRITERS = 16
ROWS_EACH = 500


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: t.audit_log.create(c))
    yield engine
    await engine.dispose()


def _row(n: int) -> dict[str, object]:
    date = int(time.time() * 1000)
    return dict(id=time_ordered_id("log_", date), date=date, type="mgmt_api_read",
                client_id="client-of-the-test", user_id=f"oidc|acme|{n:08d}",
                connection="acme", ip="127.0.0.1", description="Read IdP tokens of a user",
                details={"identities": ["oidc|acme"]})


async def _steady_load(writer: AuditWriter, wal: Path, rows_each: int = ROWS_EACH) -> int:
    """WRITERS requests writing rows back to back, as a saturated server's reads do; the
    largest size the log file reached."""
    largest = 0

    async def one(k: int) -> None:
        nonlocal largest
        for n in range(rows_each):
            await writer.write(_row(k * rows_each + n))
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)

    await asyncio.gather(*(one(k) for k in range(WRITERS)))
    return largest


def _frames_in_log(path: Path) -> int:
    """Frames in the log not yet rewound (a PASSIVE checkpoint's second figure)."""
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]


@pytest.fixture
def small_log(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same rule at a scale a test can drive: checkpoints every 4 commits, a rewind past
    # 64 frames (the server's: every 64 commits, past 4,096 frames).
    monkeypatch.setattr(audit_writer, "CHECKPOINT_EVERY", 4)
    monkeypatch.setattr(audit_writer, "RESTART_FRAMES", 64)


async def test_a_checkpoint_overlapping_the_writes_still_rewinds_the_log(
        engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a saturated server does: each checkpoint runs in the writer thread while the
    event loop goes on committing. A PASSIVE checkpoint then leaves the frames written
    meanwhile, and SQLite never rewinds the log: every round's frames stay in it. The
    rewinding checkpoint takes the write lock for those frames, so the commit after it
    writes from the log's start."""
    monkeypatch.setattr(audit_writer, "CHECKPOINT_EVERY", 10**9)  # only this test's
    monkeypatch.setattr(audit_writer, "RESTART_FRAMES", 64)
    monkeypatch.setattr(audit_writer, "RESTART_WAIT_MS", 2000)  # a loaded test machine
    path = tmp_path / "audit.db"
    wal = path.with_name("audit.db-wal")
    writer = AuditWriter(engine)
    loop = asyncio.get_running_loop()
    frames = []
    try:
        for _ in range(4):
            await _steady_load(writer, wal, rows_each=40)  # hundreds of frames
            checkpoint = loop.run_in_executor(writer._thread(), writer._checkpoint)
            await _steady_load(writer, wal, rows_each=2)  # committing while it runs
            await checkpoint
            await writer.write(_row(0))
            frames.append(_frames_in_log(path))
    finally:
        await writer.drain()
        writer.close()
    assert _count(path) == 4 * (WRITERS * 42 + 1)
    # Rewound: only what was committed after the checkpoint (the second load at most, some
    # tens of frames). Not rewound: all of the round's frames and the earlier rounds' too.
    assert max(frames) < 200, f"frames in the log after each round: {frames}"


@pytest.mark.usefixtures("small_log")
async def test_a_long_reader_delays_the_rewind_but_never_the_writes(engine: AsyncEngine,
                                                                   tmp_path: Path) -> None:
    """A reader holding one snapshot (an export, say) keeps the log from being rewound; the
    rewinding checkpoint gives up after RESTART_WAIT_MS each time instead of holding the
    write lock, and once the reader is gone the log is rewound again."""
    path = tmp_path / "audit.db"
    writer = AuditWriter(engine)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        await writer.write(_row(0))
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM audit_log").fetchone()  # holds its snapshot
        began = time.perf_counter()
        await _steady_load(writer, path.with_name("audit.db-wal"))
        held = time.perf_counter() - began
        reader.execute("COMMIT")
        # The writes went on meanwhile (the busy timeout of a waiting writer is 30 s).
        assert held < 10, f"writes stalled for {held:.1f} s behind the reader"
        wal = path.with_name("audit.db-wal")
        grown = wal.stat().st_size
        assert grown > 16 * 1024 * 1024  # nothing could be rewound while the reader stayed
        # Once the reader is gone, a few more rounds of load see the log rewound and its file
        # cut back to journal_size_limit.
        for _ in range(5):
            await _steady_load(writer, wal, rows_each=100)
            if _frames_in_log(path) < 2048 and wal.stat().st_size < grown:
                break
        assert _frames_in_log(path) < 2048, "the log was never rewound after the reader left"
        assert wal.stat().st_size < grown
    finally:
        reader.close()
        await writer.drain()
        writer.close()
    assert _count(path) >= 1 + WRITERS * (ROWS_EACH + 100)
