"""Incidents: raised when an entity's risk crosses a threshold or a critical rule fires; related
detections join the open incident that shares one of their entities.

Runs inside the commit transaction (``Batch.in_commit``), after the batch's detections have their ids,
so incidents are stored exactly once with their evidence. New serious incidents are announced after the
commit (``Batch.after_commit``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, select, tuple_, update

from garrison.model.batch import Batch
from garrison.model.detection import LEVELS, Detection
from garrison.store import state as S
from garrison.store.records import audit
from garrison.store.upsert import upsert
from garrison.triage.risk import LEVEL_POINTS, POST_COMPROMISE, RiskModel, entities_of, failed, on_estate, tactics_of

OPEN = ("new", "investigating", "contained")
JOIN_WINDOW_US = 24 * 3_600_000_000


@dataclass(frozen=True)
class TriageConfig:
    threshold: float = 150.0
    join_window_us: int = JOIN_WINDOW_US
    chain_tactics: int = 3  # distinct tactics on one entity, one of them post-compromise, raise an incident


# An incident is named after its most telling detection: the most severe, then the furthest along an attack
# (credential dumping over the log clearing that hid it, ransomware over the sweep that spread it), then the
# most specific technique (a sub-technique over its parent).
_TACTIC_RANK = {"impact": 9, "exfiltration": 8, "credential-access": 7, "lateral-movement": 7,
                "command-and-control": 6, "persistence": 5, "privilege-escalation": 5, "collection": 4,
                "execution": 4, "defense-evasion": 3, "discovery": 2, "initial-access": 2, "reconnaissance": 1,
                "resource-development": 1}


def title_rank(d: Detection) -> int:
    tags = [t.lower() for t in d.tags]
    tactic = max((_TACTIC_RANK.get(t[7:].replace("_", "-"), 0) for t in tags
                  if t.startswith("attack.") and not t[7:8] == "t"), default=0)
    specific = any(t.startswith("attack.t") and "." in t[8:] for t in tags)
    return (LEVELS.index(d.level) if d.level in LEVELS else 0) * 100 + tactic * 10 + int(specific)


def _first_sign(d: Detection) -> int:
    """The earliest event behind a detection: a correlation's first evidence, else its own event."""
    times = [t for ev in d.evidence if isinstance(t := ev.get("@timestamp"), int)]
    return min([d.timestamp, *times]) if d.timestamp else min(times, default=0)


def from_settings(settings: Any) -> tuple[RiskModel, TriageConfig]:
    """The risk model and triage config from the ``triage`` section of the configuration."""
    model = RiskModel(half_life_us=int(settings.half_life_hours * 3_600_000_000),
                      dedupe_us=int(settings.dedupe_minutes * 60_000_000), tactic_bonus=settings.tactic_bonus,
                      failed_factor=settings.failed_factor, points={**LEVEL_POINTS, **settings.points})
    return model, TriageConfig(threshold=settings.threshold, chain_tactics=settings.chain_tactics)


class TriageStage:
    def __init__(self, model: RiskModel | None = None, config: TriageConfig | None = None,
                 announce: Callable[[str, str, str], None] | None = None):
        self.model = model or RiskModel()
        self.cfg = config or TriageConfig()
        self.announce = announce

    def __call__(self, batch: Batch) -> None:
        # Single attempts (informational) are counted by the store, not scored: they would only add noise.
        dets = sorted((d for d in batch.detections if d.level != "informational"), key=lambda d: d.timestamp or 0)
        if not dets:
            return
        news: list[tuple[str, str, str]] = []
        batch.in_commit.append(lambda conn: news.__setitem__(slice(None), self._write(conn, dets)))  # a retried commit runs it again
        if self.announce is not None:
            batch.after_commit.append(lambda: [self.announce(*n) for n in news])  # type: ignore[misc]

    # -- inside the transaction -------------------------------------------------
    def _write(self, c: Any, dets: list[Detection]) -> list[tuple[str, str, str]]:
        """One read and one write per entity per batch: risk rows and open incidents are kept in memory
        while the batch's detections are scored in order, then written back."""
        news = []
        work = []
        for d in dets:
            if d.extra.get("id") is None:
                continue
            temporal = str(d.extra.get("correlation_type", "")).startswith("temporal")
            work.append((d, entities_of(d.event, d.evidence if temporal else None),
                         failed(d.event, bool(d.extra.get("decision_id")))))
        rows = _RiskRows(c, {e for _, ents, _ in work for e in ents})
        incs = _OpenIncidents(c, self.cfg.join_window_us)
        joins = _Joins(c)
        for d, ents, lost in work:
            scored = {e: self._add_risk(rows, e, d, lost) for e in ents}
            # A failed attempt counts, joins and raises through its attacker only: every refused guess
            # against a server names that server, and must not pull the day's noise into an incident about it.
            link = [e for e in ents if e[0] == "ip"] if lost else ents
            risk = max((scored[e][0] for e in link), default=0.0)
            chain = max((scored[e][1] for e in link), key=len, default=[])
            inc = incs.find(link, d.timestamp)
            if inc is not None:
                joins.join(inc, d, link, risk, self._title(d)[:512])
                incs.add(inc, link, d.timestamp)
                continue
            reason = self._reason(d, risk, chain, lost)
            if reason is None:
                continue
            iid, sev = self._raise(c, d, ents, risk, reason)
            joins.link(iid, d, ents)
            incs.add(iid, ents, d.timestamp)
            if LEVELS.index(sev) >= LEVELS.index("high"):
                news.append((sev, f"New incident #{iid}: {self._title(d)}", f"Raised because of {reason}."))
        rows.flush()
        joins.flush()
        return news

    def _reason(self, d: Detection, risk: float, chain: list[str], lost: bool) -> str | None:
        """Why this detection opens an incident, or None. The order is the order of seriousness."""
        if d.level == "critical":
            return "critical rule"
        if d.level == "high" and not lost and on_estate(d.event):
            return "high-severity activity inside the estate"
        if d.level == "high" and "garrison.reported" in d.tags:
            return "phishing reported by staff"
        if len(chain) >= self.cfg.chain_tactics and POST_COMPROMISE & set(chain):
            return "attack chain: " + " → ".join(chain)
        if risk >= self.cfg.threshold:
            return f"risk {risk:.0f} over {self.cfg.threshold:.0f}"
        return None

    def _add_risk(self, rows: _RiskRows, ent: tuple[str, str], d: Detection, lost: bool) -> tuple[float, list[str]]:
        row = rows.get(ent)
        now = d.timestamp or int(time.time() * 1e6)
        state: dict[str, Any] = row["state"] if row else {"rules": {}, "tactics": []}
        score = self.model.decay(row["score"], row["updated_at"], now) if row else 0.0
        last = state["rules"].get(d.rule_id)
        if last is None or now - last > self.model.dedupe_us:
            score += self.model.weight(d.level, d.event, lost)
        state["rules"][d.rule_id] = now
        tactics = set(state["tactics"]) | tactics_of(d.tags)
        state["tactics"] = sorted(tactics)
        # The chain: tactics of detections that got through, in the order first seen, within the join window.
        chain = {t: ts for t, ts in state.get("chain", {}).items() if now - ts <= self.cfg.join_window_us}
        if not lost:
            for t in sorted(tactics_of(d.tags)):
                chain.setdefault(t, now)
        state["chain"] = chain
        rows.put(ent, int(round(score)), max(now, row["updated_at"]) if row else now, state)
        return self.model.effective(score, tactics), sorted(chain, key=chain.__getitem__)

    @staticmethod
    def _title(d: Detection) -> str:
        ev = d.event
        who = ev.get("garrison.mail.campaign_key") or ev.get("source.ip") or ev.get("user.name") or ev.get("host.name") or "unknown source"
        return f"{d.rule_title} — {who}"

    def _raise(self, c: Any, d: Detection, ents: list[tuple[str, str]], risk: float, reason: str) -> tuple[int, str]:
        now = int(time.time() * 1e6)
        sev = d.level if d.level in ("high", "critical") else "high" if risk >= 2 * self.cfg.threshold \
            or reason.startswith("attack chain") else "medium"
        iid = c.execute(insert(S.incidents).values(
            title=self._title(d)[:512], severity=sev, status="new", organization_id=d.event.get("organization.id") or "default",
            created_at=now, updated_at=now, first_seen=_first_sign(d), last_seen=d.timestamp, raised_at=d.timestamp,
            risk=int(risk), reason=reason[:256], title_rank=title_rank(d))).inserted_primary_key[0]
        audit(c, "triage", "incident.raise", f"incident:{iid}", {"reason": reason, "detection": d.extra.get("id")})
        return int(iid), sev


class _Joins:
    """Detections joining open incidents: each incident read once per batch and written back once; the links
    to detections and entities inserted together at the end (a few statements, not four per detection)."""

    def __init__(self, c: Any):
        self.c = c
        self.rows: dict[int, dict[str, Any]] = {}
        self.changed: set[int] = set()
        self.dets: list[dict[str, Any]] = []
        self.ents: dict[tuple[int, str, str], None] = {}

    def link(self, iid: int, d: Detection, ents: list[tuple[str, str]]) -> None:
        self.dets.append({"incident_id": iid, "detection_id": d.extra["id"]})
        for k, v in ents:
            self.ents[(iid, k, v)] = None

    def join(self, iid: int, d: Detection, ents: list[tuple[str, str]], risk: float, title: str) -> None:
        row = self.rows.get(iid)
        if row is None:
            t = S.incidents.c
            r = self.c.execute(select(t.severity, t.risk, t.first_seen, t.last_seen, t.title_rank, t.title)
                               .where(t.id == iid)).one()
            row = self.rows[iid] = {"severity": r[0], "risk": r[1], "first_seen": r[2], "last_seen": r[3],
                                    "title_rank": r[4] or 0, "title": r[5]}
        row["severity"] = max(row["severity"], d.level if d.level in LEVELS else row["severity"], key=LEVELS.index)
        row["risk"] = max(row["risk"], int(risk))
        row["first_seen"] = min(row["first_seen"], _first_sign(d) or row["first_seen"])
        row["last_seen"] = max(row["last_seen"], d.timestamp)
        if (rank := title_rank(d)) > row["title_rank"]:
            row["title"], row["title_rank"] = title, rank
        self.changed.add(iid)
        self.link(iid, d, ents)

    def flush(self) -> None:
        now = int(time.time() * 1e6)
        if self.changed:
            t = S.incidents
            self.c.execute(update(t).where(t.c.id == bindparam("iid")).values(
                severity=bindparam("severity"), risk=bindparam("risk"), first_seen=bindparam("first_seen"),
                last_seen=bindparam("last_seen"), title=bindparam("title"), title_rank=bindparam("title_rank"),
                updated_at=now), [{"iid": i, **self.rows[i]} for i in sorted(self.changed)])
        upsert(self.c, S.incident_detections, self.dets, ["incident_id", "detection_id"])
        upsert(self.c, S.incident_entities, [{"incident_id": i, "kind": k, "value": v} for i, k, v in self.ents],
               ["incident_id", "kind", "value"])


class _RiskRows:
    """The batch's entity-risk rows: read in one query per 400 entities, written back once each."""

    def __init__(self, c: Any, ents: set[tuple[str, str]]):
        self.c = c
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.dirty: set[tuple[str, str]] = set()
        self.new: set[tuple[str, str]] = set()
        t = S.entity_risk
        todo = sorted(ents)
        for i in range(0, len(todo), 400):
            for r in c.execute(select(t.c.kind, t.c.value, t.c.score, t.c.updated_at, t.c.state)
                               .where(tuple_(t.c.kind, t.c.value).in_(todo[i:i + 400]))):
                self.rows[(r[0], r[1])] = {"score": r[2], "updated_at": r[3], "state": orjson.loads(r[4])}

    def get(self, ent: tuple[str, str]) -> dict[str, Any] | None:
        return self.rows.get(ent)

    def put(self, ent: tuple[str, str], score: int, updated_at: int, state: dict[str, Any]) -> None:
        if ent not in self.rows:
            self.new.add(ent)
        self.rows[ent] = {"score": score, "updated_at": updated_at, "state": state}
        self.dirty.add(ent)

    def flush(self) -> None:
        t = S.entity_risk
        vals = [{"k": k, "v": v, "score": self.rows[(k, v)]["score"], "updated_at": self.rows[(k, v)]["updated_at"],
                 "state": orjson.dumps(self.rows[(k, v)]["state"]).decode()} for k, v in sorted(self.dirty)]
        old = [x for x in vals if (x["k"], x["v"]) not in self.new]
        new = [x for x in vals if (x["k"], x["v"]) in self.new]
        if old:
            self.c.execute(update(t).where(t.c.kind == bindparam("k"), t.c.value == bindparam("v"))
                           .values(score=bindparam("score"), updated_at=bindparam("updated_at"), state=bindparam("state")),
                           old)
        if new:
            self.c.execute(insert(t), [{"kind": x["k"], "value": x["v"], "score": x["score"],
                                        "updated_at": x["updated_at"], "state": x["state"]} for x in new])


class _OpenIncidents:
    """Open incidents by entity, read once per entity per batch and kept current as the batch joins and raises."""

    def __init__(self, c: Any, window_us: int):
        self.c, self.window = c, window_us
        self.by_ent: dict[tuple[str, str], set[int]] = {}
        self.last: dict[int, int] = {}

    def _load(self, ent: tuple[str, str]) -> set[int]:
        ids = self.by_ent.get(ent)
        if ids is None:
            rows = self.c.execute(select(S.incidents.c.id, S.incidents.c.last_seen).join(
                S.incident_entities, S.incident_entities.c.incident_id == S.incidents.c.id)
                .where(S.incident_entities.c.kind == ent[0], S.incident_entities.c.value == ent[1],
                       S.incidents.c.status.in_(OPEN))).all()
            ids = self.by_ent[ent] = {int(r[0]) for r in rows}
            for r in rows:
                self.last.setdefault(int(r[0]), int(r[1] or 0))
        return ids

    def find(self, ents: list[tuple[str, str]], ts: int) -> int | None:
        """The newest open incident of the first entity that has one seen within the join window."""
        for ent in ents:
            live = [i for i in self._load(ent) if self.last[i] >= ts - self.window]
            if live:
                return max(live)
        return None

    def add(self, iid: int, ents: list[tuple[str, str]], ts: int) -> None:
        self.last[iid] = max(self.last.get(iid, ts), ts)
        for ent in ents:
            self._load(ent).add(iid)
