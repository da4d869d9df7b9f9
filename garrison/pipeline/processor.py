"""The live processor: tails the WAL from the last committed offset and commits batches to the store.

The same loop replays after a crash and processes live data. It never stops on data:
- a record a stage raises on is quarantined (``guard``);
- a commit that fails for the disk (full, read-only, I/O error) is retried with backoff,
  the batch kept in memory, and health says so while it lasts;
- a commit that fails for the data is split until the one record behind it is found and quarantined;
- a record that brought the whole process down twice (a crash no ``except`` can catch) is
  quarantined on the next start: an in-flight marker, fsynced before each batch, counts the tries.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import OperationalError

from garrison.model import RawRecord, Reject
from garrison.pipeline.guard import describe
from garrison.pipeline.pipeline import Pipeline
from garrison.pipeline.runner import commit_batch
from garrison.store.events import EventStore
from garrison.store.wal import Wal, decode_record

log = logging.getLogger("garrison.processor")
TRANSIENT = (OSError, OperationalError)  # the disk or the database, not the data: retry the same commit
FAULT_ENV = "GARRISON_FAULT_EXIT_ON"  # tests: a record holding this text makes the process exit at once


@dataclass
class Item:
    record: RawRecord | Reject
    start: int
    end: int


class Processor(threading.Thread):
    def __init__(self, pipeline: Pipeline, store: EventStore, wal: Wal, flush_seconds: float = 1.0,
                 batch_events: int = 20_000, retry_max_seconds: float = 30.0):
        super().__init__(name="garrison-processor", daemon=True)
        self.pipeline, self.store, self.wal = pipeline, store, wal
        self.flush_seconds = flush_seconds
        self.batch_events = batch_events
        self.retry_max = retry_max_seconds
        _, off, _ = store.last_commit()
        self.offset = off or 0
        self._stop_evt = threading.Event()
        self.error: BaseException | None = None
        self.commits = 0
        self.heartbeat = time.monotonic()
        self.busy_since: float | None = None
        self.state = "starting"
        self.last_error: str | None = None
        self.retries = 0
        self.quarantined_crashes = 0
        self._marker_path = Path(wal.dir) / "inflight.json"
        self._marker = self._read_marker()
        self._fault = os.environ.get(FAULT_ENV) or None

    def stop(self) -> None:
        self._stop_evt.set()

    def run(self) -> None:
        self.state = "running"
        try:
            while not self._stop_evt.is_set():
                self.heartbeat = time.monotonic()
                limit = self.wal.wait(self.offset, timeout=self.flush_seconds)
                if limit > self.offset:
                    self.step(limit)
            self.step(self.wal.synced)
            self.state = "stopped"
        except BaseException as e:  # the supervisor restarts it, or stops the server
            log.exception("processor failed")
            self.error = e
            self.last_error = describe(e)
            self.state = "failed"

    # -- one batch -----------------------------------------------------------------
    def _items(self, limit: int, max_records: int) -> list[Item]:
        items: list[Item] = []
        start = self.offset
        for payload, after in self.wal.read(self.offset, limit, max_records):
            if payload:
                try:
                    rec: RawRecord | Reject = decode_record(payload)
                except ValueError as e:
                    rec = Reject("wal", str(e), payload[:4096].decode("utf-8", "replace"))
                items.append(Item(rec, start, after))
            elif items:
                items[-1].end = after  # an unreadable region (reported by the WAL) is passed over
            else:
                items.append(Item(Reject("wal", "unreadable WAL bytes skipped (see the server log)", ""), start, after))
            start = after
        return items

    def step(self, limit: int) -> int:
        """Process up to one batch of durable WAL records; returns how many."""
        if limit <= self.offset:
            return 0
        single = bool(self._marker and self._marker.get("start") == self.offset and
                      (self._marker.get("single") or self._marker.get("tries", 0) >= 2))
        items = self._items(limit, 1 if single else self.batch_events)
        if not items:
            return 0
        self.busy_since = time.monotonic()
        try:
            if single:
                self._single(items[0])
            else:
                self._mark(items[0].start, items[-1].end, single=False)
                self._fault_check(items)
                self._commit(items)
                self._marker = None
        finally:
            self.busy_since = None
        self._clear_marker()
        self.wal.truncate_before(self.offset)
        return len(items)

    def _single(self, item: Item) -> None:
        """After two crashes on a batch: one record at a time; one that crashed twice alone is quarantined."""
        m = self._marker or {}
        tries = m.get("tries", 0) if m.get("single") and m.get("start") == item.start else 0
        if tries >= 2:
            self.quarantined_crashes += 1
            text = item.record.text if isinstance(item.record, RawRecord) else item.record.raw
            src = item.record.source
            log.error("record %s at WAL offset %d brought the processor down twice: quarantined", src, item.start)
            item = Item(Reject(src, "this record brought the processor down twice on replay; quarantined, "
                                    "not replayed again", text or "", getattr(item.record, "position", None)),
                        item.start, item.end)
        else:
            self._mark(item.start, item.end, single=True, tries=tries + 1)
            self._fault_check([item])
        self._commit([item])
        self._marker = {"start": self.offset, "single": True, "tries": 0, "end": m.get("end")}  # one by one to the end
        if self.offset >= (m.get("end") or 0):
            self._marker = None

    def _commit(self, items: list[Item]) -> None:
        """Process and commit ``items``; split on a failure the data causes, retry one the disk causes."""
        records = [i.record for i in items]
        batch = self.pipeline.process(records)
        delay = 0.5
        while True:
            try:
                commit_batch(self.store, batch, items[-1].end)
                break
            except TRANSIENT as e:
                self.retries += 1
                self.state, self.last_error = "retrying", f"commit failed, retrying: {describe(e)}"
                log.warning("commit of %d events failed (%s); retrying in %.1fs", len(batch.events), describe(e), delay)
                try:  # a connection that saw the failure may keep failing (SQLite after a full disk): start afresh
                    self.store.engine.dispose()
                except Exception:  # noqa: BLE001
                    pass
                if self._stop_evt.wait(delay):
                    raise InterruptedError("stopped while a commit was being retried; the WAL keeps the batch") from e
                self.heartbeat = time.monotonic()
                delay = min(self.retry_max, delay * 2) * random.uniform(0.8, 1.2)
            except Exception as e:  # noqa: BLE001 - the data: find the record behind it
                self.last_error = f"commit refused a batch: {describe(e)}"
                log.error("commit of %d records failed (%s); splitting to find the record", len(items), describe(e))
                if len(items) == 1:
                    rec = items[0].record
                    text = rec.text if isinstance(rec, RawRecord) else rec.raw
                    reject = Reject(rec.source, f"the store could not keep this record: {describe(e)}", text or "",
                                    getattr(rec, "position", None))
                    self._commit([Item(reject, items[0].start, items[0].end)])
                    return
                half = len(items) // 2
                self._commit(items[:half])
                self._commit(items[half:])
                return
        self.offset = items[-1].end
        self.commits += 1
        self.state = "running"

    # -- the in-flight marker ------------------------------------------------------------
    def _read_marker(self) -> dict[str, Any] | None:
        try:
            m = orjson.loads(self._marker_path.read_bytes())
            return m if isinstance(m, dict) and m.get("start") == self.offset else None
        except (OSError, orjson.JSONDecodeError):
            return None

    def _mark(self, start: int, end: int, single: bool, tries: int | None = None) -> None:
        m = self._marker or {}
        if tries is None:
            tries = (m.get("tries", 0) + 1) if m.get("start") == start and not m.get("single") else 1
        self._marker = {"start": start, "end": max(end, m.get("end") or 0), "single": single, "tries": tries}
        try:
            tmp = self._marker_path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(self._marker))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._marker_path)
        except OSError as e:  # without a marker a crash replays as before; the disk error shows elsewhere
            log.debug("in-flight marker not written: %s", e)

    def _clear_marker(self) -> None:
        if self._marker is None:
            try:
                self._marker_path.unlink(missing_ok=True)
            except OSError:
                pass

    def _fault_check(self, items: list[Item]) -> None:
        if self._fault and any(isinstance(i.record, RawRecord) and self._fault in (i.record.text or "")
                               for i in items):
            os._exit(70)
