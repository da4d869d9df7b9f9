"""bench/pipeline: a simulated day through the whole pipeline, beside the parse-only rate of the same files.

What a user waits for: ``garrison import`` of a ``garrison simulate --days 1`` folder, process start and
rule loading included (Garrison's own pack, triage and respond on; no SigmaHQ rules unless --sigma DIR).
Baseline in the same run: parsing the same records, nothing else, in-process.
Target (issue 16): the whole pipeline >= 20,000 events/s on one core; RSS < 500 MB.

    python bench/pipeline/run.py [--days 1] [--sigma ../shared/data/sigma/rules/windows]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from garrison.config import load_config  # noqa: E402
from garrison.pipeline import build_pipeline  # noqa: E402
from garrison.simulate.generate import simulate  # noqa: E402
from garrison.simulate.replay import interleaved  # noqa: E402
from garrison.model import RawRecord  # noqa: E402


def parse_only(folder: Path) -> tuple[int, float]:
    pipeline = build_pipeline(load_config(None))
    records = [RawRecord(text=line, source=str(path), position=first + i, format=fmt)
               for path, fmt, first, lines in interleaved(folder) for i, line in enumerate(lines)]
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(records), 20_000):
        n += len(pipeline.process(records[i:i + 20_000]).events)
    return n, time.perf_counter() - t0


def whole(folder: Path, work: Path, sigma: str | None) -> tuple[int, float, float, str]:
    cfg = work / "g.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(work / "data"), "enrich": {"inventory": str(folder / "inventory.yaml")},
                                   "detect": {"sigma": {"rule_dirs": [sigma] if sigma else []}}}))
    t0 = time.perf_counter()
    days = [str(d) for d in sorted(folder.iterdir()) if d.is_dir()]  # the logs, not inventory.yaml or truth.json
    r = subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "import", *days, "--json"],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    import json

    out = json.loads(r.stdout)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return int(out["events"]), wall, rss, r.stderr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--sigma", help="a SigmaHQ rules folder to load as well")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        sim = simulate(work / "logs", days=a.days, seed=11)
        # The import first, while this process is small: a child's peak RSS counts what it shared at fork.
        n, wall, rss, _ = whole(sim.out, work, a.sigma)
        n_parse, t_parse = parse_only(sim.out)
        print(f"simulated {a.days} day(s): {sim.events:,} records")
        print(f"{'baseline: parse only, in-process':44} {n_parse / t_parse:>10,.0f} events/s")
        print(f"{'garrison import, wall (start + rules incl.)':44} {n / wall:>10,.0f} events/s  "
              f"({n:,} events in {wall:.1f}s)   target 20,000 {'OK' if n / wall >= 20_000 else 'MISS'}")
        print(f"{'garrison import process: peak RSS':44} {rss:>10,.0f} MB   target < 500 MB {'OK' if rss < 500 else 'MISS'}")


if __name__ == "__main__":
    main()
