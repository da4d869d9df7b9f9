"""bench/rules: what a user waits for when keeping rules current and reading audit logs (issue 17).

Prints, in one run, each as a process from start:
- the baseline: ``garrison --help`` (interpreter and CLI start);
- ``garrison rules update --from ../shared/data/sigma`` (core+, about 2,400 rules) on a store holding a simulated
  day, the 24-hour dry run included: first install, then an update with nothing changed;
- ``garrison hunt`` with SigmaHQ's linux/auditd rules over N audit events written in auditd's shapes.

    python bench/rules/run.py [--audit-events 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
CASE = ROOT / "tests" / "cases" / "auditd" / "input.log"


def timed(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "garrison", *args], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--audit-events", type=int, default=100_000)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    d = str(work / "data")
    print(f"baseline  garrison --help: {timed('--help'):.2f} s")
    subprocess.run([sys.executable, "-m", "garrison", "simulate", "--out", str(work / "sim"), "--scale", "0.3"],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "garrison", "--data-dir", d, "import", *map(str, (work / "sim").glob("*/"))],
                   check=True, capture_output=True)
    for label in ("first install", "nothing changed"):
        s = timed("--data-dir", d, "rules", "update", "--from", str(DATA / "sigma"), "--package", "core+", "--enable")
        print(f"rules update ({label}), with the 24 h dry run: {s:.1f} s")
    # audit events: the case file's 11 events, repeated with new serials
    lines = [x for x in CASE.read_text().split("\n") if x]
    out = work / "audit.log"
    with open(out, "w") as f:
        for i in range(a.audit_events // 11 + 1):
            for x in lines:
                f.write(x.replace(":70", f":{i}70", 1) + "\n")
    s = timed("hunt", "--rules", str(DATA / "sigma" / "rules" / "linux" / "auditd"), "--json", str(out))
    n = (a.audit_events // 11 + 1) * 11
    print(f"hunt, linux/auditd rules, {n:,} audit events ({n * len(lines) // 11:,} records): {s:.1f} s, "
          f"{n / s:,.0f} events/s wall to wall")


if __name__ == "__main__":
    main()
