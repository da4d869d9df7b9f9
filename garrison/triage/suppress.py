"""Suppressions: silence a rule, an entity or a field value (with a reason and an expiry), typically
created when an incident is closed as a false positive. Suppressed detections are still stored — marked
with the suppression — but add no risk, raise no incident, cause no ban and send no notice.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from garrison.errors import GarrisonError
from garrison.model.batch import Batch
from garrison.model.decision import parse_duration
from garrison.model.detection import Detection
from garrison.store import state as S
from garrison.store.records import audit

KINDS = ("rule", "entity", "field")
ENTITY_FIELDS = ("source.ip", "user.name", "host.name")


def add_suppression(engine: Engine, kind: str, reason: str, duration: str, actor: str, rule_id: str | None = None,
                    field: str | None = None, value: str | None = None, incident_id: int | None = None) -> int:
    if kind not in KINDS:
        raise GarrisonError(f"unknown suppression kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "rule" and not rule_id:
        raise GarrisonError("a rule suppression needs the rule id")
    if kind in ("entity", "field") and not (field and value):
        raise GarrisonError(f"an {kind} suppression needs a field and a value")
    if kind == "entity" and field not in ENTITY_FIELDS:
        raise GarrisonError(f"an entity is one of {', '.join(ENTITY_FIELDS)}")
    if not reason.strip():
        raise GarrisonError("a suppression needs a reason")
    try:
        dur = parse_duration(duration)
    except ValueError as e:
        raise GarrisonError(str(e)) from None
    now = int(time.time() * 1e6)
    with engine.begin() as c:
        sid = c.execute(insert(S.suppressions).values(kind=kind, rule_id=rule_id, field=field, value=value, reason=reason,
                                                      created_at=now, until=now + dur, created_by=actor,
                                                      incident_id=incident_id, hits=0)).inserted_primary_key[0]
        audit(c, actor, "suppression.add", f"suppression:{sid}",
              {"kind": kind, "rule_id": rule_id, "field": field, "value": value, "until": now + dur, "reason": reason})
    return int(sid)


def from_incident(engine: Engine, iid: int, kind: str, reason: str, duration: str, actor: str,
                  field: str | None = None) -> list[int]:
    """Suppress what a (closed, false-positive) incident was about: its rules, its entities, or a field."""
    from garrison.triage.cases import get_incident

    inc = get_incident(engine, iid)
    if inc["status"] != "closed" or inc["outcome"] not in ("false_positive", "benign"):
        raise GarrisonError(f"incident #{iid} must be closed as false_positive or benign before suppressing from it")
    ids = []
    if kind == "rule":
        for rid in sorted({d["rule_id"] for d in inc["detections"]}):
            ids.append(add_suppression(engine, "rule", reason, duration, actor, rule_id=rid, incident_id=iid))
    elif kind == "entity":
        key = {"ip": "source.ip", "user": "user.name", "host": "host.name"}
        for e in inc["entities"]:
            if field is None or key[e["kind"]] == field:
                ids.append(add_suppression(engine, "entity", reason, duration, actor, field=key[e["kind"]],
                                           value=e["value"], incident_id=iid))
    else:
        raise GarrisonError("from an incident, suppress its 'rule' or its 'entity' values")
    return ids


def list_suppressions(engine: Engine, active_only: bool = True) -> list[dict[str, Any]]:
    q = select(S.suppressions).order_by(S.suppressions.c.id.desc())
    if active_only:
        q = q.where(S.suppressions.c.until > int(time.time() * 1e6))
    with engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]


def delete_suppression(engine: Engine, sid: int, actor: str) -> bool:
    with engine.begin() as c:
        n = c.execute(delete(S.suppressions).where(S.suppressions.c.id == sid)).rowcount
        audit(c, actor, "suppression.delete", f"suppression:{sid}")
    return n > 0


class SuppressStage:
    """Marks detections that an active suppression covers and takes them out of the rest of the batch's work."""

    def __init__(self, engine: Engine, refresh_seconds: float = 5.0):
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._rows: list[dict[str, Any]] = []
        self._at = -1e9

    def _active(self) -> list[dict[str, Any]]:
        if time.monotonic() - self._at > self.refresh_seconds:
            self._rows = list_suppressions(self.engine)
            self._at = time.monotonic()
        return self._rows

    @staticmethod
    def covers(s: dict[str, Any], d: Detection) -> bool:
        if s["rule_id"] and s["rule_id"] != d.rule_id:
            return False
        if s["kind"] == "rule":
            return True
        v = d.event.get(s["field"])
        return v is not None and str(v).lower() == str(s["value"]).lower()

    def __call__(self, batch: Batch) -> None:
        rows = self._active()
        if not rows or not batch.detections:
            return
        kept, hits = [], {}
        for d in batch.detections:
            s = next((s for s in rows if self.covers(s, d)), None)
            if s is None:
                kept.append(d)
            else:
                d.extra["suppression_id"] = s["id"]
                hits[s["id"]] = hits.get(s["id"], 0) + 1
                batch.suppressed.append(d)
        batch.detections[:] = kept

        def count(c: Any) -> None:
            for sid, n in hits.items():
                c.execute(update(S.suppressions).where(S.suppressions.c.id == sid).values(hits=S.suppressions.c.hits + n))
        if hits:
            batch.in_commit.append(count)
