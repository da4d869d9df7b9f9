"""bench/ingest: events/s from file to stored, per format, on one core; bytes on disk per event.

Baseline in the same run: the rate of merely reading and splitting the same file into lines (the ceiling).
Targets (issue 2): >= 50,000 lines/s for syslog, sshd and access logs; >= 20,000 events/s for Windows JSON;
<= 60 bytes on disk per sshd or access-log event.

    python bench/ingest/run.py [--lines 200000]

Inputs are built from the real samples in ../shared/data, repeated to size.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from garrison.config import load_config  # noqa: E402
from garrison.pipeline import build_pipeline  # noqa: E402
from garrison.pipeline.runner import import_paths  # noqa: E402
from garrison.parse.web import ACCESS  # noqa: E402
from garrison.store import EventStore, open_state  # noqa: E402

DATA = Path(os.environ.get("GARRISON_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _repeat(lines: list[str], n: int) -> list[str]:
    out = []
    while len(out) < n:
        out.extend(lines)
    return out[:n]


def inputs(n: int, tmp: Path) -> dict[str, Path]:
    files = {}
    ssh = (DATA / "loghub/OpenSSH/OpenSSH_2k.log").read_text().splitlines()
    files["sshd (syslog)"] = ssh
    linux = (DATA / "loghub/Linux/Linux_2k.log").read_text(errors="replace").splitlines()
    files["syslog (linux)"] = linux
    access = []
    for d in sorted((DATA / "crowdsec-hub/tests").iterdir()):
        if d.name.startswith(("nginx", "apache")):
            for f in d.glob("*.log"):
                access += [x for x in f.read_text(errors="replace").splitlines() if ACCESS.fullmatch(x)]
    files["access (combined)"] = access
    with zipfile.ZipFile(DATA / "otrf/datasets/atomic/windows/defense_evasion/host/empire_launcher_sct_regsvr32.zip") as z:
        win = z.read(z.namelist()[0]).decode().splitlines()
    files["windows json (otrf)"] = win
    out = {}
    for name, lines in files.items():
        count = n if "windows" not in name else n // 2
        p = tmp / (name.split()[0] + ".log")
        p.write_text("\n".join(_repeat([x for x in lines if x.strip()], count)) + "\n")
        out[name] = p
    return out


def ceiling(path: Path) -> float:
    t = time.perf_counter()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
        f.seek(0)
        for _ in f.read().split(b"\n"):
            pass
    return n / (time.perf_counter() - t)


def run(path: Path, work: Path) -> tuple[int, float, int]:
    cfg = load_config(None, data_dir=str(work))
    store = EventStore(work, open_state(work), cfg.store.compression_level, cfg.store.write_compression_level)
    pipeline = build_pipeline(cfg)
    t = time.perf_counter()
    res = import_paths(pipeline, store, [path], batch_size=100_000)
    secs = time.perf_counter() - t
    assert res.rejects == 0, f"{res.rejects} rejects in {path}"
    store.compact()
    return res.events, secs, store.stats()["bytes"]


def distinct_bytes(tmp: Path, n: int) -> dict[str, float]:
    """Bytes per event on distinct lines (generated in the real formats), after compaction.

    Repeating a small sample flatters compression; this is the honest storage figure.
    """
    from garrison.simulate import write_demo_logs

    files = write_demo_logs(tmp / "distinct", seed=11, scale=max(1, n // 8000))
    out = {}
    for name, fname in (("sshd (syslog)", "auth.log"), ("access (combined)", "access.log")):
        work = tmp / ("distinct-store-" + fname)
        cfg = load_config(None, data_dir=str(work))
        store = EventStore(work, open_state(work), cfg.store.compression_level, cfg.store.write_compression_level)
        res = import_paths(build_pipeline(cfg), store, [next(f for f in files if f.name == fname)], batch_size=20_000)
        store.compact()
        out[name] = store.stats()["bytes"] / res.events
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    targets = {"sshd (syslog)": (50_000, 60), "syslog (linux)": (50_000, None), "access (combined)": (50_000, 60),
               "windows json (otrf)": (20_000, None)}
    print(f"{'format':22} {'events':>9} {'events/s':>10} {'target':>8} {'ceiling lines/s':>16} "
          f"{'B/ev rep':>8} {'B/ev dist':>9} {'target':>7}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        dist = distinct_bytes(tmp, args.lines)
        for name, path in inputs(args.lines, tmp).items():
            ceil = ceiling(path)
            n, secs, size = run(path, tmp / ("store-" + path.stem))
            rate = n / secs
            t_rate, t_bytes = targets[name]
            db = dist.get(name)
            ok = rate >= t_rate and (t_bytes is None or (db or size / n) <= t_bytes)
            print(f"{name:22} {n:9,} {rate:10,.0f} {t_rate:8,} {ceil:16,.0f} {size / n:8.1f} "
                  f"{f'{db:.1f}' if db else '-':>9} {t_bytes or '-':>7}  {'OK' if ok else 'MISS'}")
    print("events/s: file to stored (parse, enrich, Parquet commit), one core. ceiling: read and split the same file.")
    print("B/ev rep: bytes on disk per event for the repeated real sample; B/ev dist: for distinct generated lines.")


if __name__ == "__main__":
    main()
