"""Correlations whose group is not the bus's partition key, kept by one worker each (scale-out).

The bus partitions records by source address, so a correlation grouped by source address sees all of its group
on one worker. One grouped by a user, a host or a dataset (distributed brute force, MFA fatigue, credential
stuffing) does not: its hits are spread over every worker. Each worker therefore hands such hits on. Inside the
commit that stores their events (so a hit is handed on exactly when its event is stored), it writes them to
``bus_handoffs`` under the partition of the correlation's group. The owner of that partition reads them in commit
order and feeds its copy of the correlation. It then commits what fired together with how far it has read
(``bus_handoff_marks``), so each hit counts once even when the owner dies between the two.

Only what correlation and triage read travels: the event's entity, time and outcome fields and the correlation's
own group and value fields; never the original record.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, delete, func, insert, select

from garrison.detect.sigma.correlate import CorrelationEngine, field_value
from garrison.model.detection import Detection
from garrison.store import state_bus as B
from garrison.store.bus import partition_of
from garrison.store.upsert import upsert

log = logging.getLogger("garrison.worker")
KEEP = ("@timestamp", "event.", "organization.", "source.", "destination.", "user.", "host.", "garrison.", "log.file.",
        "http.response.", "observer.", "related.")
DROP = {"event.original"}
READ_ROWS = 20_000  # hand-offs read in one go
REBUILD_ROWS = 500_000  # at most, per partition, to rebuild a taken-over partition's correlations


def correlation_of(pipeline: Any) -> CorrelationEngine | None:
    for st in pipeline.stages:
        corr = getattr(getattr(st, "engine", None), "correlation", None)
        if corr is not None:
            return corr  # type: ignore[no-any-return]
    return None


def _slim(ev: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    out = {k: v for k, v in ev.items() if k.startswith(KEEP) and k not in DROP}
    for name in extra:
        if name not in out:
            v = field_value(ev, name)
            if v is not None:
                out[name] = v
    return out


def _json(body: dict[str, Any]) -> str:
    try:
        return orjson.dumps(body, default=str).decode()
    except TypeError:  # an integer beyond 64 bits in a hostile record: the standard library writes it
        return json.dumps(body, default=str)


def rows(handed: list[tuple[Any, str, Detection]], partitions: int) -> list[dict[str, Any]]:
    """The hand-off rows of a batch's hits; called inside the commit, when the events have their ids."""
    out = []
    for corr, ref, d in handed:
        key = corr.key(ref, d)
        if any(k is None for k in key):
            continue  # no group: the correlation would not count it either
        org = str(d.event.get("organization.id") or "default")
        p = partition_of(org, b"", "", partitions, orjson.dumps([corr.info.id, list(key)], default=str))
        names = [corr._field_for(g, ref) for g in corr.group_by] + ([corr._field_for(corr.fieldref, ref)] if corr.fieldref else [])
        body = {"e": _slim(d.event, names), "r": [d.rule_id, d.rule_title, d.level, list(d.tags), d.kind], "g": d.group,
                "f": [d.source_file, d.source_record],
                "v": [e.get("event.id") for e in d.evidence] if d.evidence else None}
        out.append({"partition": p, "correlation": corr.info.id[:128], "ref": ref[:256], "ts": int(d.timestamp),
                    "event": _json(body)})
    return out


def _detection(row: Any) -> tuple[str, str, Detection]:
    try:
        body = orjson.loads(row.event)
    except orjson.JSONDecodeError:  # written by the standard library (an integer beyond 64 bits), or broken
        body = json.loads(row.event)
    rid, title, level, tags, kind = body["r"]
    evidence = [{"event.id": i} for i in body["v"]] if body.get("v") else []
    f = body.get("f") or [None, None]
    return row.correlation, row.ref, Detection(rid, title, level, tags, int(row.ts), body["e"], kind=kind,
                                               source_file=f[0], source_record=f[1], group=body.get("g"),
                                               evidence=evidence)


@dataclass
class Handoffs:
    """The owner's side: how far each owned partition's hand-offs were read, and reading on from there."""

    engine: Engine
    partitions: int
    marks: dict[int, int] = field(default_factory=dict)
    taken: int = 0
    unreadable: int = 0

    def load_marks(self, owned: set[int]) -> None:
        m = B.bus_handoff_marks.c
        with self.engine.connect() as c:
            got = {r[0]: r[1] for r in c.execute(select(m.partition, m.last_id).where(m.partition.in_(sorted(owned))))}
        self.marks = {p: got.get(p, 0) for p in owned}

    def read(self, owned: set[int], upto: int | None = None, since_ts: int | None = None) -> list[Any]:
        """New hand-offs of the owned partitions (or, rebuilding, the already-read ones back to ``since_ts``)."""
        h = B.bus_handoffs.c
        out: list[Any] = []
        with self.engine.connect() as c:
            for p in sorted(owned):
                q = select(B.bus_handoffs).where(h.partition == p)
                if upto is None:
                    out += c.execute(q.where(h.id > self.marks.get(p, 0)).order_by(h.id).limit(READ_ROWS)).all()
                else:  # rebuilding: the newest of those read
                    q = q.where(h.id <= self.marks.get(p, 0), h.ts >= (since_ts or 0))
                    out += reversed(c.execute(q.order_by(h.id.desc()).limit(REBUILD_ROWS)).all())
        return out

    def feed(self, corr: CorrelationEngine, got: list[Any]) -> list[Detection]:
        """The hits in event-time order through this worker's correlations; what fires."""
        fired: list[Detection] = []
        for row in sorted(got, key=lambda r: (r.ts, r.id)):
            try:
                cid, ref, d = _detection(row)
            except (KeyError, TypeError, ValueError) as e:  # not as we write them
                self.unreadable += 1
                log.error("hand-off %s of partition %s is unreadable (%s); skipped", row.id, row.partition, e)
                continue
            fired += corr.take(cid, ref, d)
        self.taken += len(got)
        return fired

    def waiting(self, owned: set[int]) -> int:
        """Hand-offs of the owned partitions not read yet (the health page's lag)."""
        h = B.bus_handoffs.c
        n = 0
        with self.engine.connect() as c:
            for p in sorted(owned):
                n += c.execute(select(func.count()).where(h.partition == p, h.id > self.marks.get(p, 0))).scalar() or 0
        return n

    def advance(self, got: list[Any]) -> dict[int, int]:
        new = dict(self.marks)
        for row in got:
            new[row.partition] = max(new.get(row.partition, 0), row.id)
        return new

    @staticmethod
    def save(c: Any, marks: dict[int, int], keep_from_ts: int | None = None) -> None:
        """Inside the owner's commit: how far it read; hand-offs read and older than ``keep_from_ts`` go."""
        if marks:
            upsert(c, B.bus_handoff_marks, [{"partition": p, "last_id": i} for p, i in marks.items()], ["partition"],
                   ["last_id"])
        if keep_from_ts is not None:
            h = B.bus_handoffs.c
            for p, i in marks.items():
                c.execute(delete(B.bus_handoffs).where(h.partition == p, h.id <= i, h.ts < keep_from_ts))


def write(c: Any, handed: list[tuple[Any, str, Detection]], partitions: int) -> None:
    got = rows(handed, partitions)
    if got:
        c.execute(insert(B.bus_handoffs), got)
