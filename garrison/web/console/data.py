"""What the console's pages show, read from the state database's rollups and records.

Every query here is bounded by an index or a rollup, so that pages stay fast with months of data:
attempts by day come from ``daily_attempts``, by hour from the indexed detection timestamps of one day;
origins and top sources from ``daily_origins`` and ``daily_sources``; rule hits from ``daily_rule_hits``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, func, select

from garrison.model.detection import ATTEMPT_CATEGORIES
from garrison.report.figures import CATEGORY_NAMES
from garrison.store import state as S
from garrison.store.events import day_of

RANGES = {"24h": 1, "7d": 7, "30d": 30, "12m": 365}
H = 3_600_000_000


def _now() -> int:
    return int(time.time() * 1_000_000)


def window(rng: str, now: int | None = None) -> tuple[int, int, str]:
    """(since us, until us, first day) of a range name."""
    now = now or _now()
    days = RANGES.get(rng, 1)
    since = now - days * 24 * H
    return since, now, day_of(since)


def funnel(engine: Engine, rng: str) -> dict[str, int]:
    since, _until, first = window(rng)
    d, i = S.detections.c, S.incidents.c
    with engine.connect() as c:
        events = int(c.execute(select(func.coalesce(func.sum(S.daily_counts.c.n), 0))
                               .where(S.daily_counts.c.day >= first)).scalar() or 0)
        if rng == "24h":  # by the hour: from the detections themselves (indexed by time)
            attempts, blocked = c.execute(select(func.count(), func.coalesce(func.sum(d.blocked), 0)).where(
                d.timestamp >= since, d.category.is_not(None))).one()
        else:
            attempts = blocked = 0
            for outcome, n in c.execute(select(S.daily_attempts.c.outcome, func.sum(S.daily_attempts.c.n))
                                        .where(S.daily_attempts.c.day >= first).group_by(S.daily_attempts.c.outcome)):
                attempts += int(n)
                blocked += int(n) if outcome == "blocked" else 0
        if rng == "24h":
            detections = c.execute(select(func.count()).where(d.timestamp >= since, d.level != "informational")).scalar()
        else:
            r = S.daily_rule_hits.c
            detections = c.execute(select(func.coalesce(func.sum(r.n), 0)).where(r.day >= first,
                                                                               r.level != "informational")).scalar()
        incidents = c.execute(select(func.count()).where(i.first_seen >= since)).scalar()
        breaches = c.execute(select(func.count()).where(i.first_seen >= since, i.outcome == "tp_breach")).scalar()
        # not closed yet: nobody can say they failed (the report's rule: "none succeeded" only when known)
        still_open = c.execute(select(func.count()).where(i.first_seen >= since, i.status != "closed")).scalar()
    return {"events": events, "attempts": int(attempts), "blocked": int(blocked), "detections": int(detections or 0),
            "incidents": int(incidents or 0), "breaches": int(breaches or 0), "still_open": int(still_open or 0)}


def attempts_series(engine: Engine, rng: str) -> list[dict[str, Any]]:
    """[{t, category, n}] for the overview's chart: by hour for 24h, by day up to 30d, by month for 12m."""
    since, _until, first = window(rng)
    out: dict[tuple[str, str], int] = defaultdict(int)
    with engine.connect() as c:
        if rng == "24h":
            d = S.detections.c
            for ts, cat in c.execute(select(d.timestamp, d.category).where(d.timestamp >= since, d.category.is_not(None))):
                out[(datetime.fromtimestamp((ts // H) * H / 1e6, tz=timezone.utc).isoformat(), cat)] += 1
        else:
            for day, cat, n in c.execute(select(S.daily_attempts.c.day, S.daily_attempts.c.category,
                                                func.sum(S.daily_attempts.c.n)).where(S.daily_attempts.c.day >= first)
                                         .group_by(S.daily_attempts.c.day, S.daily_attempts.c.category)):
                out[(day[:7] + "-01" if rng == "12m" else day, cat)] += int(n)
    return [{"t": t, "category": CATEGORY_NAMES.get(cat, cat), "n": n} for (t, cat), n in sorted(out.items())]


def top_origins(engine: Engine, rng: str, limit: int = 8) -> dict[str, list[tuple[str, int]]]:
    _, _, first = window(rng)
    with engine.connect() as c:
        countries = c.execute(select(S.daily_origins.c.country, func.sum(S.daily_origins.c.n))
                              .where(S.daily_origins.c.day >= first, S.daily_origins.c.country != "")
                              .group_by(S.daily_origins.c.country).order_by(func.sum(S.daily_origins.c.n).desc())
                              .limit(limit)).all()
        sources = c.execute(select(S.daily_sources.c.ip, func.sum(S.daily_sources.c.n))
                            .where(S.daily_sources.c.day >= first).group_by(S.daily_sources.c.ip)
                            .order_by(func.sum(S.daily_sources.c.n).desc()).limit(limit)).all()
    return {"countries": [(str(k), int(n)) for k, n in countries], "sources": [(str(k), int(n)) for k, n in sources]}


def source_health(engine: Engine) -> list[dict[str, Any]]:
    now = _now()
    minute = now // 60_000_000
    with engine.connect() as c:
        recent = {s: (int(n or 0), int(r or 0)) for s, n, r in c.execute(
            select(S.source_minutes.c.source, func.sum(S.source_minutes.c.n), func.sum(S.source_minutes.c.rejects))
            .where(S.source_minutes.c.minute >= minute - 10).group_by(S.source_minutes.c.source))}
        rows = [dict(r) for r in c.execute(select(S.source_health).order_by(S.source_health.c.last_event_at.desc())
                                           .limit(200)).mappings()]
    for r in rows:
        n, rej = recent.get(r["source"], (0, 0))
        r["per_minute"] = n / 10
        r["rejects_recent"] = rej
        age = (now - r["last_event_at"]) / 1e6 if r["last_event_at"] else None
        r["state"] = "no events yet" if age is None else "live" if age < 600 else "quiet" if age < 86400 else "silent"
    return rows


def rule_hits(engine: Engine, days: int = 7) -> dict[str, list[int]]:
    """rule id -> hits per day over the last ``days`` days (oldest first)."""
    today = datetime.now(timezone.utc).date()
    names = [(today - timedelta(days=k)).isoformat() for k in range(days - 1, -1, -1)]
    out: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    with engine.connect() as c:
        r = S.daily_rule_hits.c
        for day, rule, n in c.execute(select(r.day, r.rule_id, r.n).where(r.day >= names[0])):
            out[rule][names.index(day)] += int(n)
    return dict(out)


def categories() -> list[str]:
    return [CATEGORY_NAMES[k] for k in ATTEMPT_CATEGORIES]
