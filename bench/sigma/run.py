"""bench/sigma: Sigma engine throughput on the OTRF Windows attack recordings, one core.

Setup (issue 3): every rule of SigmaHQ rules/windows; the corpus is the events of
../shared/data/otrf (all recordings, in path order), up to --events.

Prints, in one run:
- the ceiling: merely parsing the same lines with orjson;
- garrison hunt's engine (JSON -> flat Windows record -> routing -> prefilter -> rules);
- the live path (normalise to ECS, then the same rules);
- rules loaded, peak RSS, and RSS at each quarter of the input (flat is good).
Reference figures from issue 3 (same machine, first 200,000 events): Zircolite with the same
YAML rules about 1,200 events/s at 944 MB RSS; Zircolite's own generic set about 7,000 events/s.
Targets: >= 30,000 events/s with all the Windows rules; RSS flat and under 500 MB.

    python bench/sigma/run.py [--events 200000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import resource
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from garrison.detect.sigma.engine import SigmaEngine  # noqa: E402
from garrison.pipeline.hunt import windows_flat  # noqa: E402
from garrison.detect.sigma.load import load_rules  # noqa: E402
from garrison.model import RawRecord  # noqa: E402
from garrison.parse import ParseState, parse_record  # noqa: E402

DATA = Path(os.environ.get("GARRISON_SHARED_DATA", ROOT.parent / "shared" / "data"))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def corpus(limit: int):
    n = 0
    for z in sorted((DATA / "otrf").rglob("*.zip")):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                if not name.endswith(".json") or name.startswith("__MACOSX/") or Path(name).name.startswith("._"):
                    continue
                with zf.open(name) as fh:
                    for raw in fh:
                        if not raw.strip():
                            continue
                        yield raw.decode("utf-8", "replace").rstrip("\n")
                        n += 1
                        if n >= limit:
                            return


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rules", default=str(DATA / "sigma/rules/windows"))
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    t = time.perf_counter()
    rs = load_rules([args.rules])
    flat_engine = SigmaEngine(rs.rules, rs.correlations, schema="winflat")
    print(f"rules: {flat_engine.report.loaded:,} loaded of {rs.files:,} files ({len(rs.errors)} not loadable, "
          f"{len(flat_engine.report.unrouted)} for other sources) in {time.perf_counter() - t:.1f}s")
    # The corpus is unzipped to a temporary file and streamed from it, so RSS measures the engine.
    tmp = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8", newline="\n")
    n = size = 0
    for s in corpus(args.events):
        tmp.write(s + "\n")
        n += 1
        size += len(s)
    tmp.close()
    print(f"corpus: {n:,} OTRF events, {size / 1e6:,.0f} MB")
    base_rss = rss_mb()

    def lines():
        with open(tmp.name, encoding="utf-8", newline="\n") as f:
            for line in f:
                yield line.rstrip("\n")

    t = time.perf_counter()
    for s in lines():
        orjson.loads(s)
    ceiling = n / (time.perf_counter() - t)

    quarters = []
    dets = 0
    t = time.perf_counter()
    step = max(1, n // 4)
    for i, s in enumerate(lines(), 1):
        flat = windows_flat(RawRecord(text=s, source="bench"))
        if flat is not None:
            dets += len(flat_engine.match(flat))
        if i % step == 0:
            quarters.append(rss_mb())
    hunt_rate = n / (time.perf_counter() - t)
    hunt_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ecs_engine = SigmaEngine(rs.rules, rs.correlations, schema="ecs")
    st = ParseState(source="bench")
    dets_ecs = 0
    n_ecs = min(n, 50_000)
    t = time.perf_counter()
    for _, s in zip(range(n_ecs), lines()):
        ev = parse_record(RawRecord(text=s, source="bench"), st)
        dets_ecs += len(ecs_engine.match(ev, ev.get("@timestamp") or 0))
    ecs_rate = n_ecs / (time.perf_counter() - t)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'path':42} {'events/s':>10}")
    print(f"{'orjson parse only (ceiling)':42} {ceiling:10,.0f}")
    print(f"{'hunt: flat Windows records + all rules':42} {hunt_rate:10,.0f}   target 30,000  "
          f"{'OK' if hunt_rate >= 30_000 else 'MISS'}   ({dets:,} detections)")
    print(f"{'live: normalise to ECS + all rules':42} {ecs_rate:10,.0f}   (first {n_ecs:,} events)")
    print(f"{'Zircolite, same YAML rules (issue 3)':42} {1_200:10,}")
    print(f"{'Zircolite, its generic set (issue 3)':42} {7_000:10,}")
    os.unlink(tmp.name)
    print(f"RSS {base_rss:,.0f} MB with the rules compiled, then at each quarter of the input: "
          f"{', '.join(f'{q:,.0f}' for q in quarters)} MB; peak {hunt_peak:,.0f} MB after hunt, "
          f"{peak:,.0f} MB with the live path's second engine   target < 500 MB, flat")


if __name__ == "__main__":
    main()
