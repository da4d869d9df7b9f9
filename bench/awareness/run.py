"""bench/awareness: what an administrator and a councillor wait for in a phishing simulation, and how true its
click rate is.

- sending: ``garrison campaigns create`` then ``garrison campaigns send --now`` for N staff into a local SMTP server
  (aiosmtpd), each a fresh process (start-up included); baseline in the same run: the same N messages rendered
  and sent by a bare smtplib loop;
- counting people: the labelled replay of link scanners and people (``garrison.evaluate.scanners``), whose
  precision and recall of "a person clicked" are printed beside the raw click rate a tool that counts every
  request would report.

    python bench/awareness/run.py [--staff 1000] [--replay 2000]
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402

from garrison.evaluate.scanners import measure  # noqa: E402
from garrison.store import open_state  # noqa: E402
from garrison.testing import free_port  # noqa: E402


class Sink:
    def __init__(self) -> None:
        self.n = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.n += 1
        return "250 OK"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--staff", type=int, default=1000)
    ap.add_argument("--replay", type=int, default=2000)
    a = ap.parse_args()
    sink, port = Sink(), free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    with tempfile.TemporaryDirectory() as d:
        staff = Path(d) / "staff.csv"
        staff.write_text("email,name,department\n" + "".join(f"user{i}@council.example,Person {i},Dept {i % 7}\n"
                                                              for i in range(a.staff)))
        cfg = Path(d) / "g.yaml"
        cfg.write_text(f"data_dir: {d}/data\nawareness: {{smtp_host: 127.0.0.1, smtp_port: {port}}}\n")
        g = [sys.executable, "-m", "garrison", "--config", str(cfg)]
        t0 = time.perf_counter()
        subprocess.run(g + ["campaigns", "create", "bench", "--template", "invoice", "--targets", str(staff)], check=True,
                       capture_output=True)
        t1 = time.perf_counter()
        subprocess.run(g + ["campaigns", "send", "bench", "--now"], check=True, capture_output=True)
        t2 = time.perf_counter()
        s = smtplib.SMTP("127.0.0.1", port)
        for i in range(a.staff):
            m = EmailMessage()
            m["From"], m["To"], m["Subject"] = "accounts@notices.example", f"user{i}@council.example", "Invoice"
            m.set_content(f"Dear Person {i}, see http://127.0.0.1/t/c/token{i}")
            s.send_message(m)
        s.quit()
        t3 = time.perf_counter()
        print(f"campaign of {a.staff:,}: create {t1 - t0:.1f} s, send {t2 - t1:.1f} s ({a.staff / (t2 - t1):,.0f} msg/s); "
              f"baseline bare smtplib loop {t3 - t2:.1f} s ({a.staff / (t3 - t2):,.0f} msg/s); {sink.n:,} received")
        t4 = time.perf_counter()
        r = measure(open_state(Path(d) / "replay"), n=a.replay)
        print(f"scanner replay of {a.replay:,} recipients ({time.perf_counter() - t4:.1f} s): precision {r['precision']:.3f}, "
              f"recall {r['recall']:.3f}; click rate counted as people {r['people_click_rate']}% vs true "
              f"{r['true_click_rate']}% vs every request counted (GoPhish's way) {r['raw_click_rate']}%")
    smtp.stop()


if __name__ == "__main__":
    main()
