"""Every figure of the committee report, computed from the store's rollups and case records.

Attempts come from ``daily_attempts`` and ``daily_origins`` (one row per day, category and outcome, or
per day, country and network): a year is a few thousand rows, whatever the traffic. Incidents, bans and
rule sets come from their own tables. Nothing here reads raw events.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from garrison.model.detection import ATTEMPT_CATEGORIES
from garrison.report.period import Period
from garrison.store import state as S

CATEGORY_NAMES = {"password_guessing": "Password guessing", "scan": "Scans", "web_attack": "Web attacks",
                  "phishing": "Phishing", "malware": "Malware", "other": "Other"}
SERIOUS_EXCLUDED = ("false_positive", "benign")


@dataclass
class IncidentRow:
    id: int
    day: str
    severity: str
    summary: str
    outcome: str
    detect_seconds: float | None
    contain_seconds: float | None


@dataclass
class Report:
    period: Period
    organization: str
    generated_at: datetime
    attempts: int = 0
    blocked: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    previous_attempts: int = 0
    trend: list[dict[str, Any]] = field(default_factory=list)  # {bucket, category, n, period: this|previous}
    bucket: str = "day"
    incidents: list[IncidentRow] = field(default_factory=list)
    breaches: int = 0
    still_open: int = 0  # serious incidents of the period not closed yet: no one can say they failed
    countries: list[tuple[str, int]] = field(default_factory=list)
    networks: list[tuple[str, int]] = field(default_factory=list)
    bans_in_force: int = 0
    bans_made: int = 0
    rule_sets: int = 0  # installed and enabled, beside Garrison's own pack
    rule_sets_added: list[str] = field(default_factory=list)
    data_from: str | None = None  # the first day with any data, when later than the period's start

    @property
    def days_recorded(self) -> int:
        """Days of the period Garrison has records for: from its first record (or the period's start) to the
        period's end or today, whichever is first."""
        start = max(self.period.start, date.fromisoformat(self.data_from)) if self.data_from else self.period.start
        end = min(self.period.end, self.generated_at.date())
        return max(1, (end - start).days + 1)

    @property
    def per_day(self) -> float:
        return self.attempts / self.days_recorded

    @property
    def none_succeeded(self) -> bool:
        """True only when it is known: every serious incident of the period is closed, none as a breach."""
        return not self.breaches and not self.still_open

    @property
    def serious(self) -> int:
        return len(self.incidents)


def _bucket(period: Period) -> str:
    return "day" if period.days <= 62 else "week" if period.days <= 190 else "month"


def _bucket_of(day: str, kind: str, origin: date) -> str:
    d = date.fromisoformat(day)
    if kind == "day":
        return day
    if kind == "week":
        return (d - timedelta(days=d.weekday())).isoformat()
    return d.replace(day=1).isoformat()


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def _us(d: date, end: bool = False) -> int:
    t = datetime(d.year, d.month, d.day, tzinfo=timezone.utc) + (timedelta(days=1) if end else timedelta())
    return int(t.timestamp() * 1_000_000)


def _attempts(c: Any, r: Report, org: str | None) -> None:
    p, prev = r.period, r.period.previous()
    q = select(S.daily_attempts.c.day, S.daily_attempts.c.category, S.daily_attempts.c.outcome,
               func.sum(S.daily_attempts.c.n)).where(S.daily_attempts.c.day >= prev.start.isoformat(),
                                                     S.daily_attempts.c.day <= p.end.isoformat())
    if org:
        q = q.where(S.daily_attempts.c.organization_id == org)
    trend: Counter[tuple[str, str, str]] = Counter()
    cats: Counter[str] = Counter()
    shift = p.days
    for day, cat, outcome, n in c.execute(q.group_by(S.daily_attempts.c.day, S.daily_attempts.c.category,
                                                     S.daily_attempts.c.outcome)):
        n = int(n)
        if day >= p.start.isoformat():
            r.attempts += n
            r.blocked += n if outcome == "blocked" else 0
            cats[cat] += n
            trend[(_bucket_of(day, r.bucket, p.start), cat, "this period")] += n
        else:
            r.previous_attempts += n  # drawn on this period's axis, a period-length earlier
            trend[(_bucket_of(_shift(day, shift), r.bucket, p.start), "all", "previous period")] += n
    r.by_category = {k: cats.get(k, 0) for k in ATTEMPT_CATEGORIES}
    buckets = sorted({_bucket_of(d, r.bucket, p.start) for d in p.day_names()})
    r.trend = [{"bucket": b, "category": CATEGORY_NAMES[k], "n": trend.get((b, k, "this period"), 0),
                "series": "this period"} for b in buckets for k in ATTEMPT_CATEGORIES]
    r.trend += [{"bucket": b, "category": "All attempts, previous period", "n": trend.get((b, "all", "previous period"), 0),
                 "series": "previous period"} for b in buckets]


def _origins(c: Any, r: Report, org: str | None) -> None:
    p, o = r.period, S.daily_origins.c
    q = select(o.country, o.network, func.sum(o.n)).where(o.day >= p.start.isoformat(), o.day <= p.end.isoformat())
    if org:
        q = q.where(o.organization_id == org)
    countries: Counter[str] = Counter()
    networks: Counter[str] = Counter()
    for country, network, n in c.execute(q.group_by(o.country, o.network)):  # one pass over the rollup, not two
        countries[country] += int(n)
        networks[network] += int(n)
    r.countries = [(k, n) for k, n in countries.most_common() if k][:10]
    r.networks = [(k, n) for k, n in networks.most_common() if k][:10]


def _incidents(c: Any, r: Report, org: str | None, plain: Any) -> None:
    p = r.period
    where = [S.incidents.c.first_seen >= _us(p.start), S.incidents.c.first_seen < _us(p.end, True)]
    if org:
        where.append(S.incidents.c.organization_id == org)
    rows = c.execute(select(S.incidents).where(*where).order_by(S.incidents.c.first_seen)).mappings().all()
    tags: dict[int, list[list[str]]] = defaultdict(list)
    for iid, t in c.execute(select(S.incident_detections.c.incident_id, S.detections.c.tags).join(
            S.detections, S.detections.c.id == S.incident_detections.c.detection_id).join(
            S.incidents, S.incidents.c.id == S.incident_detections.c.incident_id).where(*where)):
        tags[iid].append(orjson.loads(t))
    ents: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for iid, kind, value in c.execute(select(S.incident_entities.c.incident_id, S.incident_entities.c.kind,
                                             S.incident_entities.c.value).join(
            S.incidents, S.incidents.c.id == S.incident_entities.c.incident_id).where(*where)):
        ents[iid].append((kind, value))
    for inc in rows:
        if inc["outcome"] in SERIOUS_EXCLUDED:
            continue
        detect = (inc["raised_at"] - inc["first_seen"]) / 1e6 if inc["raised_at"] else None
        contain = None
        if inc["contained_at"]:
            contain = max(0.0, (inc["contained_at"] - inc["created_at"]) / 1e6 + (detect or 0.0))
        r.incidents.append(IncidentRow(inc["id"], datetime.fromtimestamp(inc["first_seen"] / 1e6, tz=timezone.utc)
                                       .date().isoformat(), inc["severity"], plain(dict(inc), tags[inc["id"]],
                                                                                   ents[inc["id"]]),
                                       inc["outcome"] or "", detect, contain))
        r.breaches += inc["outcome"] == "tp_breach"
        r.still_open += inc["status"] != "closed"


def _response(c: Any, r: Report) -> None:
    p = r.period
    now = int(datetime.now(timezone.utc).timestamp() * 1e6)
    d = S.decisions.c
    r.bans_in_force = int(c.execute(select(func.count()).select_from(S.decisions).where(
        d.deleted_at.is_(None), d.until > now, d.simulated == 0)).scalar() or 0)
    r.bans_made = int(c.execute(select(func.count()).select_from(S.decisions).where(
        d.created_at >= _us(p.start), d.created_at < _us(p.end, True), d.simulated == 0)).scalar() or 0)
    r.rule_sets_added = [n for (n,) in c.execute(select(S.rulesets.c.name).where(
        S.rulesets.c.installed_at >= _us(p.start), S.rulesets.c.installed_at < _us(p.end, True)))]
    r.rule_sets = int(c.execute(select(func.count()).select_from(S.rulesets).where(S.rulesets.c.enabled == 1)
                                ).scalar() or 0)


def first_day(c: Any) -> str | None:
    return c.execute(select(func.min(S.daily_counts.c.day))).scalar()


def build(engine: Engine, period: Period, organization: str, plain: Any, org_id: str | None = None) -> Report:
    """All the report's figures. ``plain(incident, tags, entities)`` writes an incident's one-line summary."""
    r = Report(period, organization, datetime.now(timezone.utc), bucket=_bucket(period))
    with engine.connect() as c:
        _attempts(c, r, org_id)
        _origins(c, r, org_id)
        _incidents(c, r, org_id, plain)
        _response(c, r)
        first = first_day(c)
    if first and first > period.start.isoformat():
        r.data_from = first
    if first and first > period.previous().start.isoformat():
        # The period before is not wholly recorded: comparing with it would overstate the change.
        r.previous_attempts = 0
        r.trend = [row for row in r.trend if row["series"] != "previous period"]
    return r


LIST_ALL_UP_TO = 40  # more serious incidents than this are summarised by month and kind, with the most severe listed
HIGHLIGHTS = 20  # rows listed under the summary: a page a councillor reads, not the whole year


def highlighted(r: Report) -> list[IncidentRow]:
    """The incidents listed one row each in the report's body: all of them when few; else every breach (however
    many), then the most severe, up to ``HIGHLIGHTS`` rows."""
    if len(r.incidents) <= LIST_ALL_UP_TO:
        return r.incidents
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    breaches = [i for i in r.incidents if i.outcome == "tp_breach"]
    others = sorted((i for i in r.incidents if i.outcome != "tp_breach"), key=lambda i: (rank.get(i.severity, 4), i.day))
    return sorted(breaches + others[:max(0, HIGHLIGHTS - len(breaches))], key=lambda i: (i.day, i.id))


def by_month_and_kind(r: Report, kind: Any) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """The serious incidents summarised: (kinds, [(month, count per kind)]), a row a month, most frequent kind
    first. ``kind(summary)`` names an incident's column."""
    counts: Counter[tuple[str, str]] = Counter()
    for i in r.incidents:
        counts[(i.day[:7], kind(i.summary))] += 1
    kinds = [k for k, _ in Counter(k for (_, k) in counts.elements()).most_common()]
    months = sorted({m for m, _ in counts})
    return kinds, [(date.fromisoformat(m + "-01").strftime("%b %Y"), [counts.get((m, k), 0) for k in kinds])
                   for m in months]


def by_severity(r: Report) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for i in r.incidents:
        out[i.severity] += 1
    return dict(out)
