"""hunt (raw flat Windows records) and the live pipeline (normalised events) agree; the hunt CLI's outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from garrison.config import load_config
from garrison.detect.sigma.engine import SigmaEngine
from garrison.pipeline.hunt import Hunter
from garrison.detect.sigma.stage import SigmaStage
from garrison.pipeline import build_pipeline
from garrison.sources.files import read_file
from tests.conftest import DATA

def _json_member(z):
    with zipfile.ZipFile(z) as zf:
        return next((n for n in zf.namelist() if n.endswith(".json") and not n.startswith("__MACOSX")), None)


# some OTRF recordings are packet captures only
ZIPS = [z for z in sorted((DATA / "otrf").rglob("*.zip")) if _json_member(z)]
_RULES: list = []


def _windows_rules():
    if not _RULES:
        from garrison.detect.sigma.load import load_rules

        _RULES.extend(load_rules([DATA / "sigma/rules/windows"]).rules)
    return list(_RULES)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recording=st.sampled_from(ZIPS), start=st.integers(min_value=0, max_value=3000),
       seed=st.integers(min_value=0, max_value=2**31))
def test_streaming_and_hunt_agree(tmp_path_factory, recording, start, seed):
    """Property: for any slice of any recording and any subset of the Windows rules, the live path
    (normalised events) and hunt (raw flat records) give the same (record, rule) detections."""
    import random

    rules = _windows_rules()
    random.Random(seed).shuffle(rules)
    rules = rules[:800]
    tmp = tmp_path_factory.mktemp("slice")
    with zipfile.ZipFile(recording) as zf:
        lines = zf.read(_json_member(recording)).decode("utf-8", "replace").split("\n")[start:start + 1500]
    f = tmp / "slice.json"
    f.write_text("\n".join(lines) + "\n")

    hunted = {(d.source_record, d.rule_id) for d in Hunter(rules, []).hunt([f]) if hasattr(d, "rule_id")}

    pipeline = build_pipeline(load_config(None, data_dir=str(tmp)), [SigmaStage(SigmaEngine(rules, schema="ecs"))])
    batch = pipeline.process(list(read_file(f)))
    streamed = {(d.source_record, d.rule_id) for d in batch.detections}
    assert hunted == streamed


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
