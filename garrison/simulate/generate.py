"""``garrison simulate``: days of an organisation's logs, attempts and serious attacks, with the ground truth.

Layout of the output folder::

    inventory.yaml            the organisation (own ranges, critical hosts, users and departments)
    manifest.json             every log file with its day and the --format Garrison reads it with
    truth.json                every attack: kind, serious or not, entities, time span, evidence lines
    2026-11-30/auth.log ...   one folder per day, each file sorted by time
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import yaml

from garrison.simulate.attacks import Attack, background, serious
from garrison.simulate.benign import benign_day
from garrison.simulate.logs import FILES, Logs
from garrison.simulate.org import build_org
from garrison.simulate.recordings import find_recordings, splice

DAY_US = 86_400_000_000


@dataclass(frozen=True)
class SimResult:
    out: Path
    days: list[str]
    files: list[Path]
    events: int
    attacks: int
    serious: int


def default_start(days: int) -> date:
    """The days that end at the last midnight (UTC): a finished period, so reports over it are whole."""
    return datetime.now(timezone.utc).date() - timedelta(days=days)


def simulate(out: str | Path, days: int = 1, seed: int = 7, start: date | None = None, staff: int = 5000,
             serious_per_day: int = 5, recordings: str | Path | None = None, recordings_per_day: int = 1,
             scale: float = 1.0, progress: Callable[[str], None] | None = None, attacks: bool = True) -> SimResult:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = start or default_start(days)
    org = build_org(seed, staff)
    (out / "inventory.yaml").write_text(yaml.safe_dump(org.inventory(), sort_keys=False))
    recs = find_recordings(Path(recordings)) if recordings else []
    manifest: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    files: list[Path] = []
    total = n_serious = 0
    for d in range(days):
        day = start + timedelta(days=d)
        day0 = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1_000_000)
        rng = random.Random(f"{seed}-{day.isoformat()}")
        logs = Logs(day=(day0, day0 + DAY_US))
        benign_day(logs, org, rng, day0, web_requests=int(30000 * scale * staff / 5000))
        planted: list[Attack] = []
        if attacks:  # attacks=False: a benign day, to measure false alarms against
            planted = background(logs, org, rng, day0, scale)
            planted += serious(logs, org, rng, day0, serious_per_day)
        for k in range(min(recordings_per_day, len(recs)) if attacks else 0):
            path = recs[(d * recordings_per_day + k + seed) % len(recs)]
            planted.append(splice(logs, org, rng, path, day0 + rng.randrange(2, 21) * 3_600_000_000,
                                  f"recording-{day.isoformat()}-{k + 1}"))
        where = logs.write(out / day.isoformat())
        for name in sorted(logs.rows):
            p = out / day.isoformat() / name
            files.append(p)
            manifest.append({"day": day.isoformat(), "path": f"{day.isoformat()}/{name}", "format": FILES[name],
                             "events": len(logs.rows[name])})
            total += len(logs.rows[name])
        for a in planted:
            t = a.truth() | {"day": day.isoformat(), "events": sum(len(v) for v in where.get(a.id, {}).values())}
            if a.serious:
                t["evidence"] = {f"{day.isoformat()}/{f}": lines for f, lines in where.get(a.id, {}).items()}
                n_serious += 1
            truth.append(t)
        if progress:
            progress(f"{day.isoformat()}: {sum(len(r) for r in logs.rows.values()):,} events, "
                     f"{sum(1 for a in planted if a.serious)} serious attacks, "
                     f"{sum(1 for a in planted if not a.serious)} attempting sources")
    (out / "manifest.json").write_bytes(orjson.dumps({"seed": seed, "staff": staff, "files": manifest}, option=orjson.OPT_INDENT_2))
    (out / "truth.json").write_bytes(orjson.dumps({"seed": seed, "staff": staff, "start": start.isoformat(), "days": days,
                                                   "attacks": truth}))
    return SimResult(out, [(start + timedelta(days=d)).isoformat() for d in range(days)], files, total, len(truth), n_serious)


def read_manifest(folder: str | Path) -> list[tuple[Path, str]]:
    """(file, format) of a simulated folder, in day order."""
    folder = Path(folder)
    m = orjson.loads((folder / "manifest.json").read_bytes())
    return [(folder / f["path"], f["format"]) for f in m["files"]]
