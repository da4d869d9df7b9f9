"""Runs the in-memory stages on batches of raw records and counts what each stage did."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from garrison.config import Config
from garrison.enrich.assets import AssetMap
from garrison.errors import ParseError
from garrison.model import Event, RawRecord, Reject
from garrison.model.event import CHECKPOINT
from garrison.model.batch import Batch
from garrison.model.bounds import Bounds, OutOfBounds, check_event
from garrison.model.inventory import Inventory
from garrison.model.time import any_us
from garrison.parse import ParseState, parse_record
from garrison.parse.auditd import group as group_audit
from garrison.pipeline.components import ENRICH, Deps, Stage, build_stages, make_deps
from garrison.pipeline.guard import StageFailures, describe, run_stage
from garrison.store.once import save_checkpoints


@dataclass
class Counters:
    """Per-component counters, in the style of Vector's instrumentation spec."""

    received: int = 0
    events: int = 0
    rejected: int = 0
    skipped: int = 0  # records that carry no event, e.g. W3C '#' directives (intentional)
    joined: int = 0  # records joined to the one before (the records of one audit event)
    detections: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    by_dataset: Counter[str] = field(default_factory=Counter)
    reject_reasons: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)  # records a parser or enricher raised on


@dataclass
class Pipeline:
    config: Config
    inventory: Inventory
    stages: list[Stage] = field(default_factory=list)
    assets: AssetMap = field(default_factory=AssetMap)
    counters: Counters = field(default_factory=Counters)
    failures: StageFailures = field(default_factory=StageFailures)
    bounds: Bounds = field(default_factory=Bounds)
    _states: dict[str, ParseState] = field(default_factory=dict)

    def state_for(self, rec: RawRecord, forced_format: str | None = None) -> ParseState:
        st = self._states.get(rec.source)
        if st is None:
            ref = None
            path = rec.source.split("!", 1)[0]
            if os.path.isfile(path):
                ref = int(os.path.getmtime(path) * 1_000_000)
            st = ParseState(source=rec.source, format=forced_format, forced=forced_format is not None,
                            reference_us=ref)
            name = rec.meta.get("field_map")
            if name:
                st.field_map = self.config.parse.field_maps.get(name, {})
            if len(self._states) > 10_000:
                self._states.clear()
            self._states[rec.source] = st
        return st

    def process(self, records: Iterable[RawRecord | Reject], forced_format: str | None = None) -> Batch:
        events: list[Event] = []
        rejects: list[Reject] = []
        c = self.counters
        given = list(records)
        records = group_audit(given)  # one audit event's records (one serial) become one record
        c.joined += len(given) - len(records)
        c.received += len(given) - len(records)
        checkpoints: dict[str, int] = {}
        for rec in records:
            if isinstance(rec, RawRecord) and rec.format == CHECKPOINT:  # a pulled stream's progress, not input
                checkpoints[str(rec.meta.get("stream"))] = int(rec.meta.get("checkpoint") or 0)
                continue
            c.received += 1
            if isinstance(rec, Reject):
                rejects.append(rec)
                continue
            refused = rec.meta.get("too_long") or rec.meta.get("reject")  # the source already knew it can't be used
            if refused:
                rejects.append(Reject(rec.source, str(refused), rec.text or "", rec.position, rec.offset, rec.format))
                continue
            try:
                ev = self._parse(rec, forced_format)
            except (ParseError, OutOfBounds) as e:
                rejects.append(Reject(rec.source, getattr(e, "reason", None) or str(e), rec.text or "", rec.position,
                                      rec.offset, rec.format))
                continue
            except Exception as e:  # noqa: BLE001 - a parser bug on one hostile record is that record's fault
                c.crashes["parse"] += 1
                rejects.append(Reject(rec.source, f"the parser failed on this record: {describe(e)}",
                                      rec.text or "", rec.position, rec.offset, rec.format))
                continue
            if ev is None:
                c.skipped += 1
                continue
            events.append(ev)
        batch = Batch(events, rejects)
        if checkpoints:
            batch.in_commit.append(functools.partial(save_checkpoints, checkpoints=checkpoints))
        for stage in self.stages:
            run_stage(stage, batch, self.failures)
        c.events += len(batch.events)
        c.rejected += len(batch.rejects)
        for ev in batch.events:
            c.by_dataset[ev.get("event.dataset", "unknown")] += 1
        for r in batch.rejects:
            c.reject_reasons[_reason_class(r.reason)] += 1
        c.detections += len(batch.detections)
        return batch

    def _parse(self, rec: RawRecord, forced_format: str | None) -> Event | None:
        st = self.state_for(rec, forced_format)
        ev = parse_record(rec, st)
        if ev is None:
            return None
        meta = rec.meta
        if meta:
            if "invalid_utf8" in meta:
                ev["garrison.warnings"] = [meta["invalid_utf8"]]
                self.counters.warnings["invalid_utf8"] += 1
            ev["input.type"] = str(meta.get("input", "file"))
            ev["organization.id"] = str(meta.get("org", self.config.organization))
            if "@timestamp" not in ev and meta.get("time") is not None:
                try:
                    ev["@timestamp"] = any_us(meta["time"])
                except (TypeError, ValueError, OverflowError) as e:
                    raise OutOfBounds(f"time {str(meta['time'])[:40]!r} given with the record is not a time: {e}") from e
            if meta.get("host") and "host.name" not in ev:
                ev["host.name"] = meta["host"]
            if meta.get("peer"):
                ev["observer.ip"] = meta["peer"]
            if meta.get("partition") is not None:  # from the bus: a worker rebuilding its state reads these back
                ev["garrison.partition"] = int(meta["partition"])
            if meta.get("record_id") is not None:  # a pulled record: stored once (the "once" stage)
                ev["garrison.record_id"] = str(meta["record_id"])
                ev["garrison.stream"] = str(meta.get("stream") or rec.source)
        else:
            ev["input.type"] = "file"
            ev["organization.id"] = self.config.organization
        ev["log.file.path"] = rec.source
        if rec.offset is not None:
            ev["log.offset"] = rec.offset
        if rec.position is not None:
            ev["log.file.line"] = rec.position
        check_event(ev, self.bounds)
        return ev


def _reason_class(reason: str) -> str:
    """Low-cardinality label for a reject reason (drops positions and values)."""
    head = reason.split(":", 1)[0] if ":" in reason[:40] else reason
    return " ".join(w for w in head.split() if not any(ch.isdigit() for ch in w))[:80]


def build_pipeline(config: Config, stages: list[Stage] | None = None, deps: Deps | None = None) -> Pipeline:
    """Parse and enrich (the enrich stages of ``pipeline.stages``), then ``stages``;
    ``garrison.pipeline.runner.build_live_pipeline`` builds every configured stage."""
    deps = deps or make_deps(config, None)
    enrich = build_stages(config, deps, [n for n in config.pipeline.stages if n in ENRICH])
    return _assemble(config, deps, enrich + (stages or []))


def _assemble(config: Config, deps: Deps, stages: list[Stage]) -> Pipeline:
    i = config.ingest
    return Pipeline(config=config, inventory=deps.inventory, stages=stages, assets=deps.assets,
                    bounds=Bounds(i.min_year, i.max_year, i.max_depth))
