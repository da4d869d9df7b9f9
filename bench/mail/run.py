"""bench/mail: what an analyst waits for when ``garrison mail analyze --json`` judges a folder of mail, and how right it is.

Each folder of ``../shared/data/email`` is analysed by a fresh ``garrison mail analyze --json`` process pinned to
one core (process start, rule and model loading included), and its verdicts are counted against the folder's
label. Baselines in the same run:
- speed: Python's own email parser (modern policy) reading every part of the same messages, nothing else;
- verdicts: SpamAssassin (Debian's ``spamassassin``, local tests only, ``-L``) on a sample of each folder, when
  it is installed (``apt-get install spamassassin``). Its rules were tuned on this very corpus, so it is the
  strongest comparison there can be on the SpamAssassin folders.

    python bench/mail/run.py [--sample 30]
"""

from __future__ import annotations

import argparse
import email
import email.parser
import email.policy
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("GARRISON_SHARED_DATA", ROOT.parent / "shared" / "data")) / "email"
FOLDERS = [("spamassassin/easy-ham-1", "ham"), ("spamassassin/hard-ham-1", "ham"), ("spamassassin/spam-1", "spam"),
           ("spamassassin/spam-2", "spam"), ("phishing_pot/samples-0001-2000", "phishing")]


def garrison(archive: Path, data_dir: str) -> tuple[float, Counter[str]]:
    t0 = time.perf_counter()
    r = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "garrison", "--data-dir", data_dir, "mail", "analyze",
                        "--json", str(archive)], capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    return wall, Counter(json.loads(line)["verdict"] for line in r.stdout.splitlines())


def parse_only(archive: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    parser = email.parser.BytesParser(policy=email.policy.default)
    with tarfile.open(archive) as tf:
        for m in tf:
            if not m.isfile():
                continue
            msg = parser.parsebytes(tf.extractfile(m).read())
            for part in msg.walk():
                if not part.is_multipart():
                    try:
                        part.get_content()
                    except Exception:  # noqa: BLE001 - the baseline only reads
                        pass
            n += 1
    return time.perf_counter() - t0, n


def spamassassin(archive: Path, sample: int) -> tuple[float, Counter[str]] | None:
    if not shutil.which("spamassassin"):
        return None
    out: Counter[str] = Counter()
    t0 = time.perf_counter()
    with tarfile.open(archive) as tf:
        members = [m for m in tf if m.isfile()]
        step = max(1, len(members) // sample)
        for m in members[::step][:sample]:
            raw = tf.extractfile(m).read()
            r = subprocess.run(["spamassassin", "-L"], input=raw, capture_output=True)
            status = next((line for line in r.stdout.split(b"\n") if line.startswith(b"X-Spam-Status:")), b"")
            out["spam" if b" Yes," in status else "legitimate" if b" No," in status else "error"] += 1
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=30, help="messages per folder for the SpamAssassin baseline (about 1 s each)")
    a = ap.parse_args()
    print(f"{'folder (label)':32} {'msgs':>5} {'garrison s':>10} {'msg/s':>6} {'phish%':>7} {'spam%':>6} {'legit%':>7} "
          f"{'parse-only msg/s':>16} {'SpamAssassin spam% (n)':>22}")
    with tempfile.TemporaryDirectory() as d:
        for folder, label in FOLDERS:
            archive = DATA / f"{folder}.tar.gz"
            wall, verdicts = garrison(archive, d)
            base, n = parse_only(archive)
            judged = sum(v for k, v in verdicts.items() if k != "unreadable")
            pct = {k: 100 * verdicts[k] / judged for k in ("phishing", "spam", "legitimate")}
            sa = spamassassin(archive, a.sample)
            sa_txt = "not installed" if sa is None else f"{100 * sa[1]['spam'] / max(1, sum(sa[1].values())):.1f} ({sum(sa[1].values())})"
            name = f"{folder} ({label})"
            print(f"{name:32} {n:5} {wall:10.1f} {n / wall:6.0f} {pct['phishing']:7.1f} {pct['spam']:6.1f} "
                  f"{pct['legitimate']:7.1f} {n / base:16.0f} {sa_txt:>22}")


if __name__ == "__main__":
    main()
