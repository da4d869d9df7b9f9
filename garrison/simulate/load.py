"""Load a ``garrison simulate`` folder through the live pipeline, its sources interleaved in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from garrison.model import RawRecord, Reject
from garrison.pipeline.pipeline import Pipeline
from garrison.pipeline.runner import ImportResult, run_batch
from garrison.simulate.replay import interleaved
from garrison.store.events import EventStore


def import_simulated(pipeline: Pipeline, store: EventStore, folder: str | Path,
                     progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Load a ``garrison simulate`` folder with its sources interleaved in time, as they arrive live."""
    t0 = time.perf_counter()
    ev_total = rej_total = 0
    files: set[Path] = set()
    pending: list[RawRecord | Reject] = []

    def flush() -> None:
        nonlocal ev_total, rej_total
        b = run_batch(pipeline, store, pending)
        ev_total += len(b.events)
        rej_total += len(b.rejects)
        if progress:
            progress(sum(len(r.text or "") + 1 for r in pending if isinstance(r, RawRecord)), len(b.events))
        pending.clear()

    for path, fmt, first, lines in interleaved(folder):
        files.add(path)
        pending.extend(RawRecord(text=line, source=str(path), position=first + i, format=fmt)
                       for i, line in enumerate(lines))
        if len(pending) >= 20_000:
            flush()
    if pending:
        flush()
    return ImportResult(len(files), ev_total, rej_total, time.perf_counter() - t0)
