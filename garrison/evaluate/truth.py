"""``garrison evaluate --truth``: the funnel per day, and the incidents measured against a ground truth.

An incident *covers* an attack when they share an entity (source IP, user or host, normalised as triage
normalises them) and the incident holds a detection within the attack's time span (give or take
``SLACK_US``). Per serious attack: covered or missed, and the time from the attack's first event to the
moment it was covered: the event time of the first detection of it that an incident held, or the
incident's raising if that came later. Incidents that cover no serious attack are split into those that
cover a background attempt (noise the analyst can close quickly) and false alarms (no attack at all).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from garrison.store import state as S
from garrison.store.events import day_of
from garrison.triage.risk import entities_of

SLACK_US = 10 * 60_000_000
DAY_US = 86_400_000_000


@dataclass
class AttackResult:
    id: str
    kind: str
    title: str
    day: str
    covered: bool
    incidents: list[int]
    seconds_to_incident: float | None


@dataclass
class DayFunnel:
    day: str
    events: int = 0
    attempts: int = 0
    blocked: int = 0
    detections: int = 0  # low and above: what other tools would show as alerts
    incidents: int = 0


@dataclass
class Evaluation:
    funnel: list[DayFunnel]
    attacks: list[AttackResult]
    noise_incidents: list[int] = field(default_factory=list)  # cover only background attempts
    false_alarms: list[int] = field(default_factory=list)  # cover nothing

    @property
    def recall(self) -> float:
        return sum(a.covered for a in self.attacks) / len(self.attacks) if self.attacks else 1.0

    @property
    def median_seconds(self) -> float | None:
        s = [a.seconds_to_incident for a in self.attacks if a.seconds_to_incident is not None]
        return statistics.median(s) if s else None

    @property
    def max_incidents_per_day(self) -> int:
        return max((f.incidents for f in self.funnel), default=0)

    def to_json(self) -> dict[str, Any]:
        return {"recall": self.recall, "median_seconds_to_incident": self.median_seconds,
                "max_incidents_per_day": self.max_incidents_per_day, "funnel": [f.__dict__ for f in self.funnel],
                "attacks": [a.__dict__ for a in self.attacks], "noise_incidents": self.noise_incidents,
                "false_alarms": self.false_alarms}


def _entities(attack: dict[str, Any]) -> set[tuple[str, str]]:
    e = attack.get("entities") or {}
    ev: dict[str, Any] = {}
    out: set[tuple[str, str]] = set()
    for kind, key in (("ip", "source.ip"), ("user", "user.name"), ("host", "host.name")):
        for v in e.get(kind, []):
            ev = {key: v}
            out.update(entities_of(ev))
    return out


def _incidents(engine: Engine) -> dict[int, dict[str, Any]]:
    inc: dict[int, dict[str, Any]] = {}
    with engine.connect() as c:
        for r in c.execute(select(S.incidents.c.id, S.incidents.c.raised_at, S.incidents.c.first_seen)).mappings():
            inc[r["id"]] = {"raised_at": r["raised_at"] or r["first_seen"], "entities": set(), "detections": []}
        for r in c.execute(select(S.incident_entities)).mappings():
            if r["incident_id"] in inc:
                inc[r["incident_id"]]["entities"].add((r["kind"], r["value"]))
        q = select(S.incident_detections.c.incident_id, S.detections.c.timestamp).join(
            S.detections, S.detections.c.id == S.incident_detections.c.detection_id)
        for iid, ts in c.execute(q):
            if iid in inc:
                inc[iid]["detections"].append(ts)
    return inc


def _covers(inc: dict[str, Any], ents: set[tuple[str, str]], start: int, end: int) -> int | None:
    """When the incident covered the attack (event time), or None."""
    if not inc["entities"] & ents:
        return None
    inside = [t for t in inc["detections"] if start - SLACK_US <= t <= end + SLACK_US]
    if not inside:
        return None
    return max(min(inside), int(inc["raised_at"]))


def funnel(engine: Engine, days: list[str]) -> list[DayFunnel]:
    rows = {d: DayFunnel(d) for d in days}
    with engine.connect() as c:
        for day, n in c.execute(select(S.daily_counts.c.day, func.sum(S.daily_counts.c.n)).group_by(S.daily_counts.c.day)):
            if day in rows:
                rows[day].events = int(n)
        for day, outcome, n in c.execute(select(S.daily_attempts.c.day, S.daily_attempts.c.outcome,
                                                func.sum(S.daily_attempts.c.n)).group_by(S.daily_attempts.c.day,
                                                                                         S.daily_attempts.c.outcome)):
            if day in rows:
                rows[day].attempts += int(n)
                rows[day].blocked += int(n) if outcome == "blocked" else 0
        for day, n in c.execute(select(S.detections.c.day, func.count()).where(S.detections.c.level != "informational")
                                .group_by(S.detections.c.day)):
            if day in rows:
                rows[day].detections = int(n)
        for (first,) in c.execute(select(S.incidents.c.first_seen)):
            d = day_of(first)
            if d in rows:
                rows[d].incidents += 1
    return [rows[d] for d in days]


def evaluate(engine: Engine, truth_path: str | Path) -> Evaluation:
    truth = orjson.loads(Path(truth_path).read_bytes())
    attacks = truth["attacks"]
    days = sorted({a["day"] for a in attacks})
    incs = _incidents(engine)
    results = []
    covering: dict[int, str] = {}  # incident -> 'serious' or 'background'
    for a in attacks:
        ents = _entities(a)
        hits = {iid: t for iid, inc in incs.items() if (t := _covers(inc, ents, a["start"], a["end"])) is not None}
        for iid in hits:
            if a["serious"] or covering.get(iid) != "serious":
                covering[iid] = "serious" if a["serious"] else "background"
        if a["serious"]:
            first = min(hits.values()) if hits else None
            results.append(AttackResult(a["id"], a["kind"], a["title"], a["day"], bool(hits), sorted(hits),
                                        max(0.0, (first - a["start"]) / 1e6) if first is not None else None))
    noise = sorted(i for i, k in covering.items() if k == "background")
    false = sorted(i for i in incs if i not in covering)
    return Evaluation(funnel(engine, days), results, noise, false)


def by_kind(ev: Evaluation) -> dict[str, list[AttackResult]]:
    out: dict[str, list[AttackResult]] = defaultdict(list)
    for a in ev.attacks:
        out[a.kind].append(a)
    return out
