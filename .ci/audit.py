"""Audit the locked dependencies (requirements.lock) for known vulnerabilities with pip-audit.

Fails on any known vulnerability. Where the advisory service can't be reached (this workplace reaches
the package index but not PyPI's JSON API or OSV), it says so plainly and does not pretend to have audited.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def main() -> int:
    r = subprocess.run([sys.executable, "-m", "pip_audit", "-r", str(LOCK), "--no-deps", "--disable-pip",
                        "--progress-spinner", "off", "-f", "json"], capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(r.stdout or "{}")
    except json.JSONDecodeError:
        print(f"dependency audit: pip-audit gave no report (exit {r.returncode}): {r.stderr.strip()[-500:]}")
        return 0 if "ConnectionError" in r.stderr or "Failed to resolve" in r.stderr else 1
    deps = report.get("dependencies", [])
    vulns = [(d["name"], d["version"], v["id"], v.get("fix_versions")) for d in deps for v in d.get("vulns", [])]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    for name, version, vid, fix in vulns:
        print(f"dependency audit: {name} {version}: {vid} (fixed in {', '.join(fix or []) or 'no release yet'})")
    if vulns:
        print(f"dependency audit: {len(vulns)} known vulnerabilities in {LOCK.name}: upgrade, re-lock, re-test")
        return 1
    if audited == 0 and skipped:
        print(f"dependency audit: the advisory service is out of reach from this machine; {len(skipped)} locked "
              f"packages were NOT audited (run `python .ci/audit.py` where PyPI's JSON API is reachable)")
        return 0
    print(f"dependency audit: {audited} locked packages, no known vulnerability"
          + (f"; {len(skipped)} not found on the index" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
