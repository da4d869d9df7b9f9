"""bench/sigma: Sigma over the OTRF Windows attack recordings, one core, as a user waits for it.

Setup (issue 3, issue 16): every rule of SigmaHQ rules/windows; the corpus is the events of
../shared/data/otrf (all recordings, in path order), up to --events.

Prints, in one run:
- the ceiling: merely parsing the same lines with orjson, and Garrison's parse step alone;
- ``garrison hunt`` wall to wall as a process (start, rule loading, reading, matching, output), first with
  an empty compiled-rule cache, then again with the cache the first run left;
- the scan alone (the pipeline's parse and Sigma stage, rules already built), with RSS at each quarter.
Reference figures from issue 3 (same machine, first 200,000 events): Zircolite with the same YAML rules
about 1,189 events/s at 944 MB RSS. Targets: hunt wall to wall >= 30,000 events/s; RSS flat and < 500 MB.

    python bench/sigma/run.py [--events 200000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from garrison.config import load_config  # noqa: E402
from garrison.model import RawRecord  # noqa: E402
from garrison.pipeline.hunt import Hunter  # noqa: E402
from garrison.pipeline.pipeline import build_pipeline  # noqa: E402
from garrison.detect.sigma.stage import compiled_engine  # noqa: E402

DATA = Path(os.environ.get("GARRISON_SHARED_DATA", ROOT.parent / "shared" / "data"))
ZIRCOLITE = 1_189


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


def hunt_process(rules: str, path: str, data_dir: str) -> tuple[float, int, float]:
    """Wall time, detections and the process's own peak RSS (MB) of one ``garrison hunt``."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-m", "garrison", "--data-dir", data_dir, "hunt", "--rules", rules,
                                 "--json", path], stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if status:
            raise SystemExit(f"garrison hunt failed ({status})")
        out.seek(0)
        return wall, out.read().count(b"\n"), usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rules", default=str(DATA / "sigma/rules/windows"))
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, inherited by the hunt processes
    work = Path(tempfile.mkdtemp(prefix="bench-sigma-"))
    path = work / "otrf.jsonl"
    n = size = 0
    with open(path, "w", encoding="utf-8", newline="\n") as tmp:
        for s in corpus(args.events):
            tmp.write(s + "\n")
            n += 1
            size += len(s)
    print(f"corpus: {n:,} OTRF events, {size / 1e6:,.0f} MB")
    # The hunts first, while this process is small: a child's peak RSS counts what it shared at fork.
    cold, dets, _ = hunt_process(args.rules, str(path), str(work / "data"))
    warm, dets_warm, hunt_rss = hunt_process(args.rules, str(path), str(work / "data"))
    lines = path.read_text(encoding="utf-8").splitlines()

    t = time.perf_counter()
    for s in lines:
        orjson.loads(s)
    ceiling = n / (time.perf_counter() - t)
    cfg = load_config(None, data_dir=str(work / "data"))
    parse_only = build_pipeline(cfg, [])
    records = [RawRecord(text=s, source=str(path), position=i) for i, s in enumerate(lines, 1)]
    t = time.perf_counter()
    for i in range(0, n, 2000):
        parse_only.process(records[i:i + 2000])
    parse_rate = n / (time.perf_counter() - t)
    del records, lines


    t = time.perf_counter()
    engine = compiled_engine(cfg, [args.rules])
    build = time.perf_counter() - t
    base_rss = rss_mb()
    hunter = Hunter(cfg, [], [], engine=engine)
    quarters, seen, step = [], 0, max(1, n // 4)
    t = time.perf_counter()

    def progress(k: int) -> None:
        nonlocal seen
        if (seen + k) // step > seen // step:
            quarters.append(rss_mb())
        seen += k
    found = sum(1 for _ in hunter.hunt([path], progress=progress))
    scan = n / (time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"rules: {engine.report.loaded:,} loaded ({len(engine.errors)} files not loadable, "
          f"{len(engine.report.unrouted)} for other sources); from the cache in {build:.1f}s")
    print(f"{'path':46} {'events/s':>10}  {'wall':>6}")
    print(f"{'orjson parse only (ceiling)':46} {ceiling:10,.0f}")
    print(f"{'Garrison parse step only (no rules)':46} {parse_rate:10,.0f}")
    print(f"{'garrison hunt, wall to wall, empty rule cache':46} {n / cold:10,.0f}  {cold:5.1f}s  ({dets:,} detections)")
    print(f"{'garrison hunt, wall to wall, rule cache warm':46} {n / warm:10,.0f}  {warm:5.1f}s  ({dets_warm:,} detections)"
          f"   target 30,000 {'OK' if n / warm >= 30_000 else 'MISS'}; {n / warm / ZIRCOLITE:,.1f}x Zircolite")
    print(f"{'scan only (parse + Sigma stage, rules built)':46} {scan:10,.0f}           ({found:,} detections)")
    print(f"{'Zircolite, same YAML rules (issue 3)':46} {ZIRCOLITE:10,}")
    print(f"garrison hunt process: peak RSS {hunt_rss:,.0f} MB   target < 500 MB "
          f"{'OK' if hunt_rss < 500 else 'MISS'}")
    print(f"this process (holding the corpus for the rows above): RSS {base_rss:,.0f} MB with the rules built, then at each quarter: "
          f"{', '.join(f'{q:,.0f}' for q in quarters)} MB; peak {peak:,.0f} MB")
    for p in sorted(work.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    work.rmdir()


if __name__ == "__main__":
    main()
