"""Drives the pipeline: from files (``garrison import``) or from the WAL (``garrison serve``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from garrison.model import RawRecord, Reject
from garrison.model.batch import Batch
from sqlalchemy import Engine

from garrison.config import Config
from garrison.pipeline.components import build_stages, make_deps
from garrison.pipeline.pipeline import Pipeline, _assemble
from garrison.sources.files import Limits, expand, read_file
from garrison.store.events import EventStore

log = logging.getLogger("garrison.pipeline")


@dataclass
class ImportResult:
    files: int
    events: int
    rejects: int
    seconds: float


def _batches(items: Iterable[RawRecord | Reject], size: int) -> Iterator[list[RawRecord | Reject]]:
    batch: list[RawRecord | Reject] = []
    for it in items:
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def commit_batch(store: EventStore, b: Batch, wal_offset: int | None = None) -> Batch:
    """Store a processed batch in one transaction, then run what waits for it to be durable."""
    store.commit(b.events, b.rejects, wal_offset=wal_offset, detections=b.detections, decisions=b.decisions,
                 in_commit=b.in_commit, suppressed=b.suppressed)
    for fn in b.after_commit:
        try:
            fn()
        except Exception:  # noqa: BLE001 - a notice that fails must not undo or repeat a durable commit
            log.exception("after-commit action failed")
    return b


def run_batch(pipeline: Pipeline, store: EventStore, records: list[RawRecord | Reject],
              forced_format: str | None = None, wal_offset: int | None = None) -> Batch:
    """Process one batch of records and commit it: import, replay and the live loop all come through here."""
    return commit_batch(store, pipeline.process(records, forced_format=forced_format), wal_offset)


def import_paths(pipeline: Pipeline, store: EventStore, paths: Iterable[str | Path], fmt: str | None = None,
                 batch_size: int = 50_000, progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Read files through the pipeline into the store, committing every ``batch_size`` records.

    ``progress(bytes_done_delta, events_delta)`` is called after each batch.
    """
    t0 = time.perf_counter()
    files = expand(paths)
    ev_total = rej_total = 0
    i = pipeline.config.ingest
    limits = Limits(i.max_line_bytes, i.max_decompressed_bytes, i.max_compression_ratio)
    for f in files:
        done_bytes = 0
        size = f.stat().st_size if f.exists() else 0
        for batch in _batches(read_file(f, fmt, limits=limits), batch_size):
            b = run_batch(pipeline, store, batch, fmt if fmt != "evtx" else None)
            ev_total += len(b.events)
            rej_total += len(b.rejects)
            if progress:
                last = next((r for r in reversed(batch) if r.offset is not None), None)
                now_bytes = (last.offset or 0) if last else done_bytes
                progress(max(0, now_bytes - done_bytes), len(b.events))
                done_bytes = max(done_bytes, now_bytes)
        if progress:
            progress(max(0, size - done_bytes), 0)
    return ImportResult(len(files), ev_total, rej_total, time.perf_counter() - t0)


def build_live_pipeline(config: Config, db: Engine, notifier: Any = None) -> Pipeline:
    """The full pipeline: parse, then every stage of ``pipeline.stages`` (enrich, detect, suppress, respond,
    triage) as the component registry builds them."""
    from garrison.respond.notify import Notifier

    deps = make_deps(config, db, notifier if notifier is not None else Notifier(config.notify))
    return _assemble(config, deps, build_stages(config, deps))
