"""The case workflow: status, assignee, comments, outcome — every change in the audit log — and the
incident's facts in plain English."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
from sqlalchemy import Engine, func, insert, select, update

from garrison.errors import GarrisonError
from garrison.model import iso_from_us
from garrison.store import state as S
from garrison.store.records import audit

STATUSES = ("new", "investigating", "contained", "resolved", "closed")
OUTCOMES = {"tp_breach": "true positive – breach", "tp_stopped": "true positive – attempt stopped",
            "benign": "benign", "false_positive": "false positive"}


def list_incidents(engine: Engine, status: str | None = None, severity: str | None = None,
                   assignee: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    q = select(S.incidents).order_by(S.incidents.c.risk.desc(), S.incidents.c.id.desc()).limit(limit)
    if status:
        q = q.where(S.incidents.c.status == status)
    if severity:
        q = q.where(S.incidents.c.severity == severity)
    if assignee:
        q = q.where(S.incidents.c.assignee == assignee)
    with engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]


def get_incident(engine: Engine, iid: int) -> dict[str, Any]:
    with engine.connect() as c:
        inc = c.execute(select(S.incidents).where(S.incidents.c.id == iid)).mappings().first()
        if inc is None:
            raise GarrisonError(f"no incident #{iid} (see: garrison incidents list)")
        dets = c.execute(select(S.detections).join(S.incident_detections, S.incident_detections.c.detection_id ==
                                                    S.detections.c.id)
                         .where(S.incident_detections.c.incident_id == iid).order_by(S.detections.c.timestamp)
                         ).mappings().all()
        ents = c.execute(select(S.incident_entities.c.kind, S.incident_entities.c.value)
                         .where(S.incident_entities.c.incident_id == iid)).all()
        risks = {(r[0], r[1]): r[2] for r in c.execute(select(S.entity_risk.c.kind, S.entity_risk.c.value,
                                                              S.entity_risk.c.score))
                 if (r[0], r[1]) in set(ents)}
        comments = c.execute(select(S.incident_comments).where(S.incident_comments.c.incident_id == iid)
                             .order_by(S.incident_comments.c.at)).mappings().all()
    out = dict(inc)
    out["detections"] = [dict(d) for d in dets]
    out["entities"] = [{"kind": k, "value": v, "risk": risks.get((k, v), 0)} for k, v in ents]
    out["comments"] = [dict(x) for x in comments]
    out["techniques"] = sorted({t[7:].upper() for d in dets for t in orjson.loads(d["tags"])
                                if t.startswith("attack.t")})
    out["summary"] = summary(out)
    return out


def summary(inc: dict[str, Any]) -> str:
    """Plain English from the incident's facts only."""
    dets = inc["detections"]
    rules = Counter(d["rule_title"] for d in dets)
    ips = sorted({e["value"] for e in inc["entities"] if e["kind"] == "ip"})
    users = sorted({e["value"] for e in inc["entities"] if e["kind"] == "user"})
    parts = [", ".join(f"{t} ({n}×)" if n > 1 else t for t, n in rules.most_common(3))]
    if ips:
        parts.append(f"from {', '.join(ips[:3])}" + (f" and {len(ips) - 3} more" if len(ips) > 3 else ""))
    if users:
        parts.append(f"against {len(users)} account{'s' if len(users) > 1 else ''} ({', '.join(users[:3])}"
                     + (", …" if len(users) > 3 else "") + ")")
    first, last = iso_from_us(inc["first_seen"]), iso_from_us(inc["last_seen"])
    text = " ".join(parts) + f"; seen {first[:16].replace('T', ' ')}"
    text += f" to {last[11:16] if last[:10] == first[:10] else last[:16].replace('T', ' ')} UTC."
    blocked = [d for d in dets if d.get("decision_id")]
    if blocked:
        text += f" {len(blocked)} of {len(dets)} attempts were stopped by a ban in force."
    if inc.get("outcome"):
        text += f" Outcome: {OUTCOMES.get(inc['outcome'], inc['outcome'])}."
    return text


def _change(engine: Engine, iid: int, actor: str, action: str, values: dict[str, Any], detail: dict[str, Any]) -> None:
    with engine.begin() as c:
        now = int(time.time() * 1e6)
        n = c.execute(update(S.incidents).where(S.incidents.c.id == iid)
                      .values(**values, updated_at=now)).rowcount
        if not n:
            raise GarrisonError(f"no incident #{iid} (see: garrison incidents list)")
        if values.get("status") in ("contained", "resolved", "closed"):  # time to contain: the first such change
            c.execute(update(S.incidents).where(S.incidents.c.id == iid, S.incidents.c.contained_at.is_(None))
                      .values(contained_at=now))
        audit(c, actor, action, f"incident:{iid}", detail)


def assign(engine: Engine, iid: int, who: str, actor: str) -> None:
    _change(engine, iid, actor, "incident.assign", {"assignee": who}, {"assignee": who})


def set_status(engine: Engine, iid: int, status: str, actor: str) -> None:
    if status not in STATUSES:
        raise GarrisonError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    extra = {"closed_at": int(time.time() * 1e6)} if status == "closed" else {}
    _change(engine, iid, actor, "incident.status", {"status": status, **extra}, {"status": status})


def close(engine: Engine, iid: int, outcome: str, actor: str, note: str | None = None) -> None:
    if outcome not in OUTCOMES:
        raise GarrisonError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
    _change(engine, iid, actor, "incident.close", {"status": "closed", "outcome": outcome,
                                                   "closed_at": int(time.time() * 1e6)}, {"outcome": outcome})
    if note:
        comment(engine, iid, actor, note)


def comment(engine: Engine, iid: int, author: str, text: str) -> None:
    if not text.strip():
        raise GarrisonError("empty comment")
    with engine.begin() as c:
        if not c.execute(select(func.count()).select_from(S.incidents).where(S.incidents.c.id == iid)).scalar():
            raise GarrisonError(f"no incident #{iid} (see: garrison incidents list)")
        c.execute(insert(S.incident_comments).values(incident_id=iid, author=author, at=int(time.time() * 1e6),
                                                     text=text))
        audit(c, author, "incident.comment", f"incident:{iid}", {"length": len(text)})
