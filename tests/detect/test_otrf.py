"""Issue 18: SigmaHQ's Windows rules plus Garrison's own pack on the OTRF atomic Windows recordings (host
event logs and packet captures), and the pack's false alarms on simulated benign days."""

from __future__ import annotations

import shutil

import pytest
import yaml

from garrison.config import load_config
from garrison.detect.sigma.rulesets import builtin_pack
from garrison.evaluate.otrf import benign_days, evaluate, recordings
from tests.conftest import DATA

pytestmark = pytest.mark.usefixtures("data")

# Pack rules with no public positive in the recordings here: each is tested on an event written in
# test_rules_without_a_recording_fire_on_their_behaviour below.
NO_RECORDING = {"garrison_acl_backdoor", "garrison_ad_hoc_web_server_ps", "garrison_credential_prompt_or_vault",
                "garrison_ntds_copy", "garrison_rpc_remote_wmi_exec", "garrison_rpc_netlogon_authenticate"}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    assert shutil.which("tshark"), "tshark is missing: make test-deps installs it (the captures are read with it)"
    return list(evaluate(load_config(None, data_dir=str(tmp_path_factory.mktemp("otrf"))), DATA))


def test_every_recording_is_read_with_its_metadata_tactics():
    recs = recordings(DATA)
    assert len(recs) == 152
    assert sum(1 for r in recs if r.path.parent.name == "network") == 37
    dcsync = next(r for r in recs if r.path.name == "empire_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip")
    assert dcsync.tactics == {"credential-access"}


def test_targets(outcomes):
    n = len(outcomes)
    assert sum(o.hit for o in outcomes) / n >= 0.90
    assert sum(o.hit_high for o in outcomes) / n >= 0.75


def test_each_tactic_folder_is_mostly_covered(outcomes):
    for folder in ("credential_access", "defense_evasion", "lateral_movement", "discovery", "persistence"):
        sel = [o for o in outcomes if o.recording.folder == folder]
        assert sum(o.hit for o in sel) / len(sel) >= 0.85, folder


def _pack_rules():
    for folder in ("windows", "network"):
        for f in sorted((builtin_pack() / folder).glob("*.yml")):
            doc = yaml.safe_load(f.read_text())
            if str(doc.get("date")) == "2026-12-05":  # the rules issue 18 added
                yield doc


def test_each_pack_rule_fires_on_a_real_recording(outcomes):
    fired = {t for o in outcomes for t in o.rules}
    missing = [d["name"] for d in _pack_rules() if d["title"] not in fired and d["name"] not in NO_RECORDING]
    assert not missing


def test_each_pack_rule_carries_a_tactic_and_a_technique():
    for d in _pack_rules():
        tags = d["tags"]
        assert any(t.startswith("attack.t") for t in tags) and any(not t.startswith("attack.t") for t in tags), d["name"]


@pytest.mark.parametrize("name, recording", [
    ("Lateral movement", "empire_psexec_dcerpc_tcp_svcctl.zip"),
    ("DCSync", "empire_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip"),
])
def test_captures_are_read_through_tshark(outcomes, name, recording):
    o = next(o for o in outcomes if o.recording.path.name == recording and o.recording.path.parent.name == "network")
    assert o.hit_high, (recording, o.rules)


def test_the_pack_raises_nothing_on_benign_days(tmp_path):
    b = benign_days(tmp_path, days=3, staff=1000, scale=0.3)
    assert b.events > 10_000
    assert b.pack_incidents <= b.days  # the bound: at most one incident a day
    assert not b.detections, b.detections


def _hunt(tmp_path, lines: list[dict]) -> set[str]:
    import orjson

    from garrison.detect.sigma.stage import compiled_engine
    from garrison.pipeline.hunt import Hunter

    f = tmp_path / "events.json"
    f.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    cfg = load_config(None, data_dir=str(tmp_path / "d"))
    hunter = Hunter(cfg, [], [], engine=compiled_engine(cfg, [builtin_pack()]))
    return {d.rule_title for d in hunter.hunt([f]) if hasattr(d, "rule_title")}


def _script(text: str) -> dict:
    return {"EventID": 4104, "Channel": "Microsoft-Windows-PowerShell/Operational", "Hostname": "pc1",
            "@timestamp": "2026-12-01T10:00:00Z", "ScriptBlockText": text, "ScriptBlockId": "x", "Path": ""}


@pytest.mark.parametrize("event, title", [
    (_script("$l = New-Object System.Net.HttpListener; $l.Start()"), "PowerShell opens an HTTP listener"),
    (_script("$c = $Host.UI.PromptForCredential('Windows', 'Enter password', $env:USERNAME, '')"),
     "PowerShell asks for credentials or reads the credential vault"),
    (_script("Add-DomainObjectAcl -TargetIdentity 'DC=corp,DC=local' -PrincipalIdentity bob -Rights DCSync"),
     "Rights changed on a directory object (ACL backdoor)"),
    (_script("Invoke-NinjaCopy -Path C:\\Windows\\NTDS\\ntds.dit -LocalDestination C:\\temp\\n.dit"),
     "The Active Directory database read or copied"),
    ({"_path": "dce_rpc", "ts": 1764583200.0, "id.orig_h": "10.0.0.5", "id.orig_p": 50000, "id.resp_h": "10.0.0.6",
      "id.resp_p": 135, "endpoint": "IWbemServices", "operation": "ExecMethod"}, "A WMI method run on another machine"),
])
def test_rules_without_a_recording_fire_on_their_behaviour(tmp_path, event, title):
    assert title in _hunt(tmp_path, [event])


def test_reading_event_logs_in_a_script_is_not_tampering(tmp_path):
    assert not _hunt(tmp_path, [_script("Get-WinEvent -LogName System | Where-Object Id -eq 7036"),
                                _script("Get-EventLog -LogName Application -Newest 10 | Stop-Service -WhatIf")])
