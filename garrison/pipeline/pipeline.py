"""Runs the in-memory stages on batches of raw records and counts what each stage did."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from garrison.config import Config
from garrison.enrich import GeoLookup, Inventory, load_inventory
from garrison.enrich.assets import AssetMap
from garrison.errors import ParseError
from garrison.model import Event, RawRecord, Reject
from garrison.model.batch import Batch
from garrison.parse import ParseState, parse_record
from garrison.parse._time import any_us

# A later stage (detect, triage, respond) sees each batch of parsed, enriched events and adds
# what it finds (detections, decisions) to the batch.
Stage = Callable[[Batch], None]


@dataclass
class Counters:
    """Per-component counters, in the style of Vector's instrumentation spec."""

    received: int = 0
    events: int = 0
    rejected: int = 0
    skipped: int = 0  # records that carry no event, e.g. W3C '#' directives (intentional)
    detections: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    by_dataset: Counter[str] = field(default_factory=Counter)
    reject_reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class Pipeline:
    config: Config
    geo: GeoLookup | None
    inventory: Inventory
    stages: list[Stage] = field(default_factory=list)
    assets: AssetMap = field(default_factory=AssetMap)
    counters: Counters = field(default_factory=Counters)
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
        org_default = self.config.organization
        for rec in records:
            c.received += 1
            if isinstance(rec, Reject):
                rejects.append(rec)
                continue
            if rec.meta.get("too_long"):
                rejects.append(Reject(rec.source, rec.meta["too_long"], rec.text or "", rec.position, rec.offset, rec.format))
                continue
            st = self.state_for(rec, forced_format)
            try:
                ev = parse_record(rec, st)
            except ParseError as e:
                rejects.append(Reject(rec.source, e.reason, rec.text or "", rec.position, rec.offset, rec.format or st.format))
                continue
            if ev is None:
                c.skipped += 1
                continue
            meta = rec.meta
            if meta:
                if "invalid_utf8" in meta:
                    ev["garrison.warnings"] = [meta["invalid_utf8"]]
                    c.warnings["invalid_utf8"] += 1
                ev["input.type"] = meta.get("input", "file")
                ev["organization.id"] = meta.get("org", org_default)
                if "@timestamp" not in ev and meta.get("time") is not None:
                    try:
                        ev["@timestamp"] = any_us(meta["time"])
                    except (TypeError, ValueError):
                        pass
                if meta.get("host") and "host.name" not in ev:
                    ev["host.name"] = meta["host"]
                if meta.get("peer"):
                    ev["observer.ip"] = meta["peer"]
            else:
                ev["input.type"] = "file"
                ev["organization.id"] = org_default
            ev["log.file.path"] = rec.source
            if rec.offset is not None:
                ev["log.offset"] = rec.offset
            if rec.position is not None:
                ev["log.file.line"] = rec.position
            events.append(ev)
        if self.geo is not None:
            for ev in events:
                self.geo.enrich(ev)
        if self.inventory.own or self.inventory.partners or self.inventory.hosts or self.inventory.users:
            for ev in events:
                self.inventory.enrich(ev)
                self.assets.enrich(ev)
        batch = Batch(events, rejects)
        for stage in self.stages:
            stage(batch)
        c.events += len(events)
        c.rejected += len(rejects)
        for ev in events:
            c.by_dataset[ev.get("event.dataset", "unknown")] += 1
        for r in rejects:
            c.reject_reasons[_reason_class(r.reason)] += 1
        c.detections += len(batch.detections)
        return batch


def _reason_class(reason: str) -> str:
    """Low-cardinality label for a reject reason (drops positions and values)."""
    head = reason.split(":", 1)[0] if ":" in reason[:40] else reason
    return " ".join(w for w in head.split() if not any(ch.isdigit() for ch in w))[:80]


def build_pipeline(config: Config, stages: list[Stage] | None = None) -> Pipeline:
    """Parse and enrich only; ``garrison.pipeline.runner.build_live_pipeline`` adds detection."""
    geo = GeoLookup(config.enrich) if (config.enrich.geoip or config.enrich.maxmind_country) else None
    return Pipeline(config=config, geo=geo, inventory=load_inventory(config.enrich.inventory), stages=stages or [])


def now_us() -> int:
    return int(time.time() * 1_000_000)
