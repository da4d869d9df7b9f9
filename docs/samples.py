"""Regenerate the samples in docs/: console screenshots and a committee report, from a simulated store.

    python docs/samples.py --config STORE.yaml     # a store filled by `garrison simulate` (30 days here)

Writes docs/console-overview.png, docs/console-incident.png, docs/sample-report.pdf and
docs/sample-report-page1.png. Needs Debian's chromium and poppler-utils (make test-deps installs both).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from garrison.testing import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PW = "docs sample password"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    args = ap.parse_args()
    base = yaml.safe_load(Path(args.config).read_text())
    port = free_port()
    base["ingest"] = {"http": f"127.0.0.1:{port}", "syslog_udp": None, "syslog_tcp": None}
    base.setdefault("report", {})["organization_name"] = "Exeshire County Council"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "g.yaml"
        cfg.write_text(yaml.safe_dump(base))
        run = [sys.executable, "-m", "garrison", "--config", str(cfg)]
        subprocess.run([*run, "report", "--period", "30d", "--out", str(DOCS / "sample-report.pdf"), "--no-archive"],
                       check=True)
        subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile",
                        str(DOCS / "sample-report.pdf"), str(DOCS / "sample-report-page1")], check=True)
        if subprocess.run([*run, "users", "add", "docs", "--role", "analyst", "--password-stdin"], input=PW + "\n",
                          text=True, capture_output=True).returncode:  # a store used before: the account exists
            subprocess.run([*run, "users", "passwd", "docs", "--password-stdin"], input=PW + "\n", text=True,
                           check=True)
        proc = subprocess.Popen([*run, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, 60)
            _shots(url)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def _shots(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = b.new_page(viewport={"width": 1366, "height": 900}, base_url=url)
        page.goto("/console/login")
        page.get_by_label("User name").fill("docs")
        page.get_by_label("Password").fill(PW)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/console/?range=30d")
        page.locator("#attempts-chart svg").first.wait_for()
        page.screenshot(path=str(DOCS / "console-overview.png"), full_page=False)
        page.goto("/console/incidents?severity=critical")
        html = page.content()
        iid = re.search(r'href="/console/incidents/(\d+)"', html)
        page.goto(f"/console/incidents/{iid.group(1) if iid else 1}")
        page.screenshot(path=str(DOCS / "console-incident.png"), full_page=False)
        b.close()


if __name__ == "__main__":
    main()
