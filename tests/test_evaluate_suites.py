"""garrison evaluate-suites prints every suite's figures (the figures themselves are tracked in issue notes)."""

from __future__ import annotations

import subprocess
import sys

from garrison.evaluate.suites import SUITES
from tests.conftest import DATA


def test_every_suite_measures_something():
    for name, fn in SUITES.items():
        rows = fn(DATA)
        assert rows and sum(r.positives for r in rows) > 0 and sum(r.negatives for r in rows) > 0, name


def test_cli_table(tmp_path):
    out = subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path), "evaluate-suites", "--data",
                          str(DATA), "--suite", "httpparams", "--suite", "fail2ban"], capture_output=True, text=True,
                         check=True).stdout
    assert "httpparams" in out and "fail2ban" in out and "normal values" in out
