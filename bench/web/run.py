"""bench/web: the web-attack detector's throughput on real requests, one core.

Corpus: CSIC 2010 (36,000 normal and 25,065 anomalous shop requests) and OWASP CRS's regression
requests, from ../shared/data.

Prints, in one run:
- the baseline: the same signatures searched once over each part's raw, undecoded text (what a
  grep-style matcher without decoding costs);
- Garrison's detector: URL/entity/escape decoding, the comment- and quote-stripped views, base64
  names, upload file names — what the pipeline runs on every web event;
- the share of requests flagged by each, so the cost of decoding is set against what it finds.

    python bench/web/run.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from garrison.detect.detectors.web import PATTERNS, classify  # noqa: E402
from garrison.evaluate.suites import _csic_requests, crs_cases  # noqa: E402

DATA = Path(os.environ.get("GARRISON_SHARED_DATA", ROOT.parent / "shared" / "data"))


def raw_match(parts: dict[str, str]) -> bool:
    return any(rx.search(text) for text in parts.values() if text for rx in PATTERNS.values())


def timed(fn, requests, rounds):  # type: ignore[no-untyped-def]
    best, hits = float("inf"), 0
    for _ in range(rounds):
        t = time.perf_counter()
        hits = sum(1 for r in requests if fn(r))
        best = min(best, time.perf_counter() - t)
    return best, hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    csic = DATA / "web/csic2010"
    requests = list(_csic_requests(csic / "normalTrafficTraining.txt.gz"))
    requests += list(_csic_requests(csic / "anomalousTrafficTest.txt.gz"))
    requests += [c.parts for c in crs_cases(DATA)]
    n = len(requests)
    print(f"{n:,} requests (CSIC 2010 and CRS regression tests), best of {args.rounds} rounds, one core")
    base_s, base_hits = timed(raw_match, requests, args.rounds)
    g_s, g_hits = timed(classify, requests, args.rounds)
    print(f"baseline, raw text, same signatures: {n / base_s:>9,.0f} requests/s  flagged {base_hits / n:6.1%}")
    print(f"garrison detector (decoded views):   {n / g_s:>9,.0f} requests/s  flagged {g_hits / n:6.1%}")
    print(f"decoding costs {g_s / base_s:.1f}x the raw search and finds {g_hits - base_hits:+,} more requests")


if __name__ == "__main__":
    main()
