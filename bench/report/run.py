"""bench/report: the committee report over 12 months of an organisation with 50,000 attempts a day.

Seeds a fresh state database with what a year of such traffic leaves in it: the daily attempt rollups
(6 categories x 2 outcomes a day, 18.25 million attempts a year; two years, so that the report compares
the year with the one before), origins by country and network (200 a day),
and 12 serious incidents a day with their detections and entities (4,380 incidents). Then times, in
the same run:

- the baseline: reading the rollup rows alone (the floor any report over rollups pays);
- the figures (all the report's numbers);
- each format end to end: HTML (with SVG charts), Markdown (with PNG charts), PDF (WeasyPrint).

Target (issue 8): at most 1 s for the report; raw events are never read.

    python bench/report/run.py [--days 730] [--per-day 50000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from garrison.model.detection import ATTEMPT_CATEGORIES  # noqa: E402
from garrison.report import parse_period, render  # noqa: E402
from garrison.report.figures import build  # noqa: E402
from garrison.report.words import incident_summary  # noqa: E402
from garrison.store import open_state  # noqa: E402
from garrison.store import state as S  # noqa: E402

SHARES = {"password_guessing": 0.38, "scan": 0.45, "web_attack": 0.12, "phishing": 0.01, "malware": 0.01, "other": 0.03}
COUNTRIES = ["CN", "RU", "US", "NL", "DE", "BR", "VN", "IN", "KR", "IR", "RO", "UA", "FR", "SG", "HK", "ID", "TR", "GB",
             "TW", "BG"]
NETWORKS = ["CHINANET", "DigitalOcean", "OVH SAS", "Hetzner Online", "Amazon.com", "Google LLC", "Alibaba", "M247",
            "Tencent", "Microsoft Corporation"]
TAGS = ['["attack.t1110.003"]', '["attack.t1505.003"]', '["attack.t1486"]', '["attack.t1204.002"]', '["attack.t1078"]']


def seed(engine, days: int, per_day: int, today: date) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(1)
    att, org, inc, det, link, ent = [], [], [], [], [], []
    iid = 0
    for k in range(days):
        day = today - timedelta(days=k)
        d = day.isoformat()
        n = int(per_day * rng.uniform(0.8, 1.2))
        for cat in ATTEMPT_CATEGORIES:
            c = int(n * SHARES[cat])
            blocked = int(c * rng.uniform(0.5, 0.9))
            att += [dict(day=d, organization_id="default", category=cat, outcome="blocked", n=blocked),
                    dict(day=d, organization_id="default", category=cat, outcome="not_blocked", n=c - blocked)]
        for ci, country in enumerate(COUNTRIES):
            for net in NETWORKS:
                org.append(dict(day=d, organization_id="default", country=country, network=net,
                                n=max(1, int(n / (ci + 2) / 40))))
        t0 = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1e6)
        for _ in range(12):
            iid += 1
            first = t0 + rng.randrange(86_400_000_000)
            inc.append(dict(id=iid, title="x", severity=rng.choice(["high", "critical"]), status="closed",
                            outcome=rng.choice(["tp_stopped"] * 20 + ["false_positive"]), organization_id="default",
                            created_at=first + 60_000_000, updated_at=first, first_seen=first, last_seen=first,
                            raised_at=first + rng.randrange(5, 90) * 1_000_000, contained_at=first + 3_600_000_000,
                            risk=150, reason="critical rule"))
            det.append(dict(id=iid, timestamp=first, day=d, organization_id="default", rule_id="r", rule_title="r",
                            level="high", kind="sigma", tags=rng.choice(TAGS)))
            link.append(dict(incident_id=iid, detection_id=iid))
            ent.append(dict(incident_id=iid, kind="host", value=f"ws-{rng.randrange(5000):05d}"))
    with engine.begin() as c:
        for table, rows in ((S.daily_attempts, att), (S.daily_origins, org), (S.incidents, inc), (S.detections, det),
                            (S.incident_detections, link), (S.incident_entities, ent)):
            c.execute(insert(table), rows)
        c.execute(insert(S.daily_counts), [dict(day=(today - timedelta(days=days - 1)).isoformat(),
                                                organization_id="default", input_type="file", dataset="x", outcome="",
                                                n=1)])


def best(fn, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=730, help="days seeded: two years, so the report compares with the "
                                                          "year before")
    ap.add_argument("--per-day", type=int, default=50_000)
    args = ap.parse_args()
    today = datetime.now(timezone.utc).date()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_state(Path(tmp))
        t0 = time.perf_counter()
        seed(engine, args.days, args.per_day, today)
        print(f"seeded {args.days} days at ~{args.per_day:,} attempts/day in {time.perf_counter() - t0:.1f}s")
        period = parse_period("12m", today)
        with engine.connect() as c:
            total = c.execute(select(func.sum(S.daily_attempts.c.n))).scalar()
            rows = c.execute(select(func.count()).select_from(S.daily_attempts)).scalar()
        print(f"store: {total:,} attempts in {rows:,} rollup rows over {args.days} days; {args.days * 12:,} incidents")

        def floor() -> None:
            with engine.connect() as c:
                c.execute(select(S.daily_attempts).where(S.daily_attempts.c.day >= period.previous().start.isoformat())).all()
                c.execute(select(S.daily_origins).where(S.daily_origins.c.day >= period.start.isoformat())).all()

        report = build(engine, period, "Bench Council", incident_summary)
        render(report, "html")  # warm up: vl-convert starts its JavaScript engine once per process
        figures = best(lambda: build(engine, period, "Bench Council", incident_summary))
        print(f"\nbaseline: reading the rollup rows alone            {floor_t if (floor_t := best(floor)) else 0:.3f} s")
        print(f"figures (every number of the report)               {figures:.3f} s")
        for fmt in ("html", "md", "pdf"):
            t = best(lambda fmt=fmt: render(build(engine, period, "Bench Council", incident_summary), fmt))
            verdict = "within" if t <= 1.0 else "OVER"
            print(f"report, 12 months, {fmt:<4} end to end                {t:.3f} s   ({verdict} the 1 s target)")
        print(f"\n{report.attempts:,} attempts, {report.serious:,} serious incidents, {report.breaches} breaches in the report")


if __name__ == "__main__":
    main()
