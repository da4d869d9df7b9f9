"""Hunting: run Sigma rules over files, as Chainsaw and Hayabusa do, and the live pipeline's stage.

Windows records (EVTX, NXLog/OTRF and Winlogbeat JSON) are matched in their raw flat form
(``winflat`` schema: event data at top level), skipping normalisation; every other
format is parsed to Garrison's normalised events (``ecs`` schema). Both engines are
compiled from the same rules, and a test checks that they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.routing import Routing
from garrison.errors import ParseError
from garrison.model import Event, RawRecord, Reject
from garrison.model.detection import Detection
from garrison.parse import ParseState, parse_record
from garrison.model.time import any_us, iso_us
from garrison.sources.files import expand, read_file

_NXLOG_TIME = ("@timestamp", "EventTime")


def _attr(node: Any, name: str) -> Any:
    return node.get("#attributes", {}).get(name) if isinstance(node, dict) else None


def flat_from_evtx(obj: dict[str, Any], text: str) -> Event:
    """The evtx JSON form to a flat Windows record (NXLog-style system names)."""
    e = obj.get("Event", obj)
    sysm = e.get("System") or {}
    flat: Event = {}
    for section, user in (("EventData", False), ("UserData", True)):
        ed = e.get(section)
        if not isinstance(ed, dict):
            continue
        if user:
            inner = [v for k, v in ed.items() if k != "#attributes"]
            ed = inner[0] if len(inner) == 1 and isinstance(inner[0], dict) else ed
        for k, v in ed.items():
            if k != "#attributes":
                flat[k.replace(" ", "") if " " in k else k] = v["#text"] if isinstance(v, dict) and "#text" in v else v
    eid = sysm.get("EventID")
    flat["EventID"] = eid.get("#text") if isinstance(eid, dict) else eid
    flat["Channel"] = sysm.get("Channel")
    flat["Hostname"] = sysm.get("Computer")
    flat["SourceName"] = _attr(sysm.get("Provider"), "Name")
    flat["RecordNumber"] = sysm.get("EventRecordID")
    stamp = _attr(sysm.get("TimeCreated"), "SystemTime")
    flat["@timestamp"] = iso_us(stamp) if stamp else 0
    flat["event.original"] = text
    return flat


def flat_from_nxlog(obj: dict[str, Any], text: str) -> Event:
    """NXLog/OTRF records are flat already; '@timestamp' stays text until a rule matches."""
    if " " in "".join(obj):
        obj = {k.replace(" ", ""): v for k, v in obj.items()}
    obj["event.original"] = text
    return obj


def flat_from_winlogbeat(obj: dict[str, Any], text: str) -> Event:
    w = obj["winlog"]
    flat: Event = {k.replace(" ", ""): v for k, v in {**(w.get("event_data") or {}), **(w.get("user_data") or {})}.items()}
    flat.update({"EventID": w.get("event_id"), "Channel": w.get("channel"), "Hostname": w.get("computer_name"),
                 "SourceName": w.get("provider_name"), "RecordNumber": w.get("record_id"),
                 "@timestamp": any_us(obj["@timestamp"]) if obj.get("@timestamp") else 0, "event.original": text})
    return flat


def windows_flat(rec: RawRecord) -> Event | None:
    """A flat Windows record for ``rec``, or None when it is not a Windows record."""
    obj = rec.obj
    text = rec.text or ""
    if obj is None:
        if not text.startswith("{"):
            return None
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict):
            return None
    if "Event" in obj and isinstance(obj["Event"], dict) and "System" in obj["Event"]:
        return flat_from_evtx(obj, text)
    if "EventID" in obj and ("Channel" in obj or "SourceName" in obj):
        return flat_from_nxlog(obj, text)
    if isinstance(obj.get("winlog"), dict):
        return flat_from_winlogbeat(obj, text)
    return None


@dataclass
class HuntStats:
    records: int = 0
    rejects: int = 0
    detections: int = 0


class Hunter:
    """Both engines over one rule set; compiles each on first use."""

    def __init__(self, rules: list[SigmaRule], correlations: list[SigmaCorrelationRule], routing: Routing | None = None,
                 placeholders: dict[str, list[str]] | None = None):
        self.rules, self.correlations = rules, correlations
        self.routing, self.placeholders = routing, placeholders
        self._engines: dict[str, SigmaEngine] = {}

    def engine(self, schema: str) -> SigmaEngine:
        eng = self._engines.get(schema)
        if eng is None:
            eng = self._engines[schema] = SigmaEngine(self.rules, self.correlations, schema=schema, routing=self.routing,
                                                      placeholders=self.placeholders)
        return eng

    def hunt(self, paths: Iterable[str | Path], stats: HuntStats | None = None,
             progress: Callable[[int], None] | None = None) -> Iterator[Detection | Reject]:
        stats = stats or HuntStats()
        for f in expand(paths):
            st = ParseState(source=str(f))
            n = 0
            for rec in read_file(f):
                n += 1
                if progress is not None and n % 2000 == 0:
                    progress(2000)
                if isinstance(rec, Reject):
                    stats.rejects += 1
                    yield rec
                    continue
                stats.records += 1
                flat = windows_flat(rec)
                if flat is not None:
                    dets = self.engine("winflat").match(flat)
                else:
                    try:
                        ev = parse_record(rec, st)
                    except ParseError as e:
                        stats.rejects += 1
                        yield Reject(rec.source, e.reason, rec.text or "", rec.position, rec.offset)
                        continue
                    if ev is None:
                        continue
                    dets = self.engine("ecs").match(ev, ev.get("@timestamp") or 0)
                for d in dets:
                    d.source_file = rec.source
                    d.source_record = rec.position
                    stats.detections += 1
                    yield d
            if progress is not None:
                progress(n % 2000)
        for eng in self._engines.values():
            for d in eng.flush():
                stats.detections += 1
                yield d
