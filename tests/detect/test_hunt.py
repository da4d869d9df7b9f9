"""``hunt`` is the live pipeline run over files: both give the same detections on every SigmaHQ regression
folder (its .json and .evtx, Defender's included) and on the OTRF corpus; the hunt CLI's outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import yaml

from garrison.config import load_config
from garrison.model.detection import Detection
from garrison.pipeline.hunt import Hunter
from garrison.pipeline.runner import _batches, build_live_pipeline
from garrison.sources.files import expand, read_file
from garrison.store.state import open_state
from tests.conftest import DATA

REGRESSION = DATA / "sigma/regression_data"


def _live_and_hunted(tmp_path, rule_files, logs, rules):
    """(file, record, rule) of every Sigma detection: the full configured live pipeline, then hunt."""
    folder = tmp_path / "rules"
    folder.mkdir()
    for i, f in enumerate(rule_files):
        shutil.copy(f, folder / f"{i:05d}_{f.name}")
    cfg_file = tmp_path / "garrison.yml"
    cfg_file.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"),
                                        "detect": {"sigma": {"rule_dirs": [str(folder)]}}}))
    cfg = load_config(cfg_file)
    ids = {str(r.id) for r in rules}
    live_pipeline = build_live_pipeline(cfg, open_state(cfg.data_path))
    live = set()
    for f in expand(logs):
        for records in _batches(read_file(f), 5000):
            b = live_pipeline.process(records)
            live |= {(d.source_file, d.source_record, d.rule_id) for d in b.detections + b.suppressed
                     if d.rule_id in ids}
    hunted = {(d.source_file, d.source_record, d.rule_id) for d in Hunter(cfg, rules, []).hunt(logs)
              if isinstance(d, Detection)}
    return live, hunted


def test_live_and_hunt_agree_on_every_regression_folder(tmp_path, sigma_rules):
    wanted = {yaml.safe_load(p.read_text())["rule_metadata"][0]["id"] for p in REGRESSION.rglob("info.yml")}
    rules = [r for r in sigma_rules.rules if str(r.id) in wanted]
    assert len(rules) >= 190
    live, hunted = _live_and_hunted(tmp_path, sorted({r.source.path for r in rules}), [REGRESSION], rules)
    assert live == hunted
    folders = {f.split("/regression_data/")[1].rsplit("/", 1)[0] for f, _, _ in hunted}
    assert len(folders) >= 190  # nearly every folder's rule fires on its own recording
    assert {f.rsplit(".", 1)[1] for f, _, _ in hunted} >= {"json", "evtx"}
    assert any("defender" in f.lower() for f, _, _ in hunted)


def test_live_and_hunt_agree_on_otrf(tmp_path, sigma_rules):
    win = str(DATA / "sigma/rules/windows")
    rules = [r for r in sigma_rules.rules if str(r.source.path).startswith(win)]
    # every other recording, sorted by tactic and name, so every tactic is in (all of them: test_otrf's targets)
    recordings = sorted((DATA / "otrf").rglob("*.zip"))[::2]
    live, hunted = _live_and_hunted(tmp_path, sorted({r.source.path for r in rules}), recordings, rules)
    assert len(recordings) >= 70 and len(hunted) > 500
    assert live == hunted


def test_hunt_cli_json_on_evtx_and_json(tmp_path):
    folder = next((DATA / "sigma/regression_data").rglob("proc_creation_win_amsi_registry_tampering"))
    rule = next((DATA / "sigma/rules").rglob("proc_creation_win_amsi_registry_tampering.yml"))
    out = subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path), "hunt", "--rules", str(rule),
                          "--json", str(folder)], capture_output=True, text=True, check=True).stdout
    lines = [json.loads(x) for x in out.splitlines()]
    files = {x["source"]["file"].rsplit(".", 1)[-1] for x in lines}
    assert files == {"evtx", "json"}
    d = lines[0]
    assert set(d) >= {"rule_id", "rule_title", "level", "tags", "timestamp", "source", "event"}
    assert d["source"]["record"] >= 1 and d["level"] == "high"


def test_hunt_cli_table_and_csv(tmp_path):
    z = DATA / "otrf/datasets/atomic/windows/defense_evasion/host/empire_launcher_sct_regsvr32.zip"
    rules = DATA / "sigma/rules/windows/process_creation"
    res = subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path), "hunt", "--rules", str(rules), str(z)],
                         capture_output=True, text=True, check=True)
    assert "detections in" in res.stdout and "Regsvr32" in res.stdout
    res = subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path), "hunt", "--rules", str(rules), "--csv",
                          str(z)], capture_output=True, text=True, check=True)
    rows = res.stdout.splitlines()
    assert rows[0].startswith("timestamp,level,rule_id") and len(rows) > 1
