"""Daily rollups written in a commit's transaction: counts by dataset, attempts by kind and outcome, arrivals
per source. Reports over months read these, never the raw events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, update

from garrison.model.detection import Detection
from garrison.model.time import day_of
from garrison.store import state as S
from garrison.store.upsert import upsert

def bump(c: Any, table: Any, counts: Counter[Any], keys: tuple[str, ...]) -> None:
    """Add ``counts`` to the rollup rows (made when missing), in one statement."""
    upsert(c, table, [{**dict(zip(keys, values)), "n": n} for values, n in counts.items()], list(keys), add=["n"])


def count_attempts(c: Any, detections: Sequence[Detection], rows: list[dict[str, Any]], now: int) -> None:
    """Every attempt (a detection that is not a correlation: correlations summarise attempts already
    counted) into the daily rollups the reports read: by category and outcome, and by origin.
    ``rows`` are the detections' ``detection_row``s, which hold their category and outcome."""
    attempts: Counter[tuple[str, ...]] = Counter()
    origins: Counter[tuple[str, ...]] = Counter()
    sources: Counter[tuple[str, ...]] = Counter()
    rules: Counter[tuple[str, ...]] = Counter()
    for d, row in zip(detections, rows):
        ev = d.event
        day, org = day_of(d.timestamp or ev.get("@timestamp") or now), row["organization_id"]
        rules[(day, row["rule_id"], d.level)] += 1
        if row["category"] is None:  # a correlation
            continue
        if ev.get("source.ip"):
            sources[(day, org, str(ev["source.ip"])[:64])] += 1
        attempts[(day, org, row["category"], "blocked" if row["blocked"] else "not_blocked")] += 1
        origins[(day, org, str(ev.get("source.geo.country_iso_code") or "")[:8],
                 str(ev.get("source.as.organization.name") or "")[:128])] += 1
    bump(c, S.daily_attempts, attempts, ("day", "organization_id", "category", "outcome"))
    bump(c, S.daily_origins, origins, ("day", "organization_id", "country", "network"))
    bump(c, S.daily_sources, sources, ("day", "organization_id", "ip"))
    bump(c, S.daily_rule_hits, rules, ("day", "rule_id", "level"))


def count_arrivals(c: Any, health: dict[str, list[Any]], now: int) -> None:
    """Events and rejects per source for this minute (the console's events per minute); an hour is kept."""
    minute = now // 60_000_000
    for src, (_inp, ne, nr) in health.items():
        res = c.execute(update(S.source_minutes).where(S.source_minutes.c.source == src, S.source_minutes.c.minute == minute)
                        .values(n=S.source_minutes.c.n + ne, rejects=S.source_minutes.c.rejects + nr))
        if res.rowcount == 0:
            c.execute(insert(S.source_minutes).values(source=src, minute=minute, n=ne, rejects=nr))
    c.execute(delete(S.source_minutes).where(S.source_minutes.c.minute < minute - 60))
