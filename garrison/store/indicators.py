"""The indicator list Garrison writes itself (``data/intel/reported-phish.csv``): what reported phishing carried
(sender domains, link hosts, URLs, attachment hashes) and what analysts blocked, each with its source and an
expiry. The intel stage loads it beside the configured lists (``detect/intel.py`` reads the CSV form).
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

FILE = "intel/reported-phish.csv"
_LOCK = threading.Lock()


def append(data_dir: str | Path, rows: list[tuple[str, str]], source: str, days: float = 30.0) -> int:
    """Add (type, value) indicators not already listed; returns how many were new."""
    path = Path(data_dir) / FILE
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * 86400))
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        have: set[tuple[str, str]] = set()
        if path.exists():
            with open(path, newline="") as f:
                have = {(r.get("type", ""), r.get("value", "")) for r in csv.DictReader(f)}
        new = [(t, v) for t, v in dict.fromkeys(rows) if (t, v) not in have]
        if not new:
            return 0
        fresh = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.writer(f)
            if fresh:
                w.writerow(["type", "value", "source", "expires"])
            for t, v in new:
                w.writerow([t, v, source[:120], expires])
    return len(new)
