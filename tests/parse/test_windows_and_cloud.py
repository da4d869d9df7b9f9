"""Windows (OTRF NXLog JSON, SigmaHQ evtx JSON and EVTX) and Entra ID / M365 (Panther's test events)."""

from __future__ import annotations

import zipfile

import yaml

from garrison.model import RawRecord
from garrison.parse import ParseState, parse_record
from garrison.sources.files import read_file
from tests.conftest import parse_lines


def test_otrf_recording(data):
    """An OTRF zip: every line parses; Sysmon process creation maps to ECS and keeps winlog.event_data."""
    z = data / "otrf/datasets/atomic/windows/defense_evasion/host/empire_launcher_sct_regsvr32.zip"
    with zipfile.ZipFile(z) as zf:
        lines = zf.read(zf.namelist()[0]).decode().splitlines()
    events, errors = parse_lines(lines)
    assert not errors and len(events) == len([x for x in lines if x.strip()])
    sysmon1 = [e for e in events if e["event.dataset"] == "windows.sysmon" and e["winlog.event_id"] == 1]
    assert sysmon1
    e = sysmon1[0]
    assert e["process.executable"] == e["winlog.event_data.Image"] and e["process.command_line"]
    assert e["event.category"] == "process" and e["host.name"]
    assert "winlog.event_data.EventTime" not in e and "winlog.event_data.Hostname" not in e


def test_sigma_regression_json_and_evtx_agree(data):
    """SigmaHQ regression data: the evtx JSON form and the .evtx file give the same events."""
    folders = [i.parent for i in sorted((data / "sigma/regression_data").rglob("info.yml"))
               if any(i.parent.glob("*.json")) and any(i.parent.glob("*.evtx"))][:40]
    assert len(folders) >= 20
    for d in folders:
        j = next(d.glob("*.json"))
        st = ParseState(source=str(j))
        recs = list(read_file(j))
        assert all(isinstance(r, RawRecord) for r in recs), recs[:1]
        from_json = [parse_record(r, st) for r in recs]
        evtx = [r for r in read_file(next(d.glob("*.evtx")))]
        st2 = ParseState(source="evtx")
        from_evtx = [parse_record(r, st2) for r in evtx]
        assert len(from_evtx) >= len(from_json) >= 1
        keys = {k for k in from_json[0] if k.startswith("winlog.event_data.")}
        match = [e for e in from_evtx if e.get("winlog.event_id") == from_json[0]["winlog.event_id"]
                 and all(str(e.get(k)).strip() == str(from_json[0][k]).strip() for k in keys)]
        assert match, d.name


def test_windows_xml(data):
    events, errors = parse_lines((data / "crowdsec-hub/tests/windows-bf/windows-bf.log").read_text().splitlines())
    assert not errors and all(e["winlog.event_id"] == 4625 for e in events)
    assert events[0]["event.outcome"] == "failure" and events[0]["user.name"] == "asdfasdf"


def _panther(data, folder):
    for f in sorted((data / "panther" / folder).glob("*.yml")):
        doc = yaml.safe_load(f.read_text())
        for t in doc.get("Tests", []):
            yield f.name, doc.get("LogTypes", []), t


def test_entra_signin_and_audit(data):
    seen = {"entra.signin": 0, "entra.audit": 0}
    for name, _types, t in _panther(data, "azure_signin_rules"):
        log = t["Log"]
        st = ParseState(source=name)
        ev = parse_record(RawRecord(text=None, obj=log, source=name), st)
        assert ev["event.dataset"] in seen, (name, t["Name"], ev["event.dataset"])
        seen[ev["event.dataset"]] += 1
        if ev["event.dataset"] == "entra.signin":
            props = log.get("properties", {})
            if props.get("userPrincipalName"):
                assert ev["user.name"] == props["userPrincipalName"]
            code = (props.get("status") or {}).get("errorCode")
            if code is not None:
                assert ev["event.outcome"] == ("success" if int(code) == 0 else "failure")
    assert seen["entra.signin"] >= 10 and seen["entra.audit"] >= 10


def test_m365_unified_audit(data):
    n = 0
    for name, types, t in _panther(data, "microsoft_rules"):
        if not any(str(x).startswith("Microsoft365") for x in types):
            continue
        log = t["Log"]
        ev = parse_record(RawRecord(text=None, obj=log, source=name), ParseState(source=name))
        assert ev["event.dataset"] == "m365.audit", (name, t["Name"])
        low = {k.lower(): v for k, v in log.items()}
        assert ev["event.action"] == low["operation"]
        if low.get("userid"):
            assert ev["user.name"] == low["userid"]
        n += 1
    assert n >= 10
