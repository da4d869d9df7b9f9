"""``garrison import``: the summary as text that fits 80 columns, and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import DATA


def _run(tmp_path, *args):
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path / "data"), "import", *args],
                          capture_output=True, text=True, env=env, check=True)


def test_import_json_on_real_sshd_logs(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text("this is not a log line of any format\n")
    r = _run(tmp_path, str(DATA / "loghub/OpenSSH/OpenSSH_2k.log"), str(bad), "--json")
    out = json.loads(r.stdout)
    assert out["files"] == 2 and out["events"] == 2000 and out["rejected"] == 1
    assert out["by_dataset"]["sshd"] > 1500 and out["detections"] > 0
    assert out["reject_reasons"] and out["parser_failures"] == {} and out["stage_failures"] == {}


def test_import_text_summary_fits_80_columns(tmp_path):
    r = _run(tmp_path, str(DATA / "loghub/OpenSSH/OpenSSH_2k.log"))
    assert "Stored 2,000 events from 1 file(s)" in r.stdout
    assert all(len(line) <= 80 for line in r.stdout.splitlines()), r.stdout
