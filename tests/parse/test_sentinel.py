"""Issue 19: history from Microsoft Sentinel. Real records (the simulator's sign-ins and unified audit records,
Panther's Entra ID audit events, an OTRF recording's Security events) written as the Log Analytics rows
Sentinel keeps them as (SigninLogs, AuditLogs, OfficeActivity, SecurityEvent: the tables' documented
columns, JSON-in-string where the tables have it) must give the same ECS fields and the same detections."""

from __future__ import annotations

import json
import zipfile

import orjson
import pytest
import yaml

from garrison.config import load_config
from garrison.model import RawRecord
from garrison.pipeline.runner import build_live_pipeline
from garrison.simulate.generate import simulate
from garrison.store import open_state
from tests.conftest import DATA


def signin_row(r: dict) -> dict:
    p = r["properties"]
    return {"TenantId": "t", "SourceSystem": "Azure AD", "TimeGenerated": r["time"], "Type": "SigninLogs",
            "OperationName": "Sign-in activity", "Category": "SignInLogs", "ResultType": str(p["status"]["errorCode"]),
            "ResultDescription": p["status"].get("failureReason", ""), "Identity": p.get("userDisplayName"),
            "UserPrincipalName": p["userPrincipalName"], "UserDisplayName": p.get("userDisplayName"),
            "IPAddress": p.get("ipAddress"), "AppDisplayName": p.get("appDisplayName"),
            "ClientAppUsed": p.get("clientAppUsed"), "Location": p.get("location", {}).get("countryOrRegion"),
            "LocationDetails": json.dumps(p.get("location", {})), "Status": json.dumps(p["status"]),
            "ConditionalAccessStatus": p.get("conditionalAccessStatus"), "Id": p["id"], "CreatedDateTime": p["createdDateTime"]}


def office_row(r: dict) -> dict:
    row = {"TenantId": "t", "SourceSystem": "OfficeActivityManager", "Type": "OfficeActivity",
           "TimeGenerated": r["CreationTime"] + "Z", "OfficeWorkload": r.get("Workload"), "OfficeId": r["Id"]}
    for k, v in r.items():
        if k not in ("CreationTime", "Workload", "Id"):
            row[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
    return row


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    sim = simulate(tmp_path_factory.mktemp("sim") / "logs", days=1, seed=5, staff=800, scale=0.3, serious_per_day=6)
    folder = sim.out / sim.days[0]
    read = lambda n: [orjson.loads(x) for x in (folder / n).read_bytes().splitlines() if x.strip()]  # noqa: E731
    return read("entra-signin.json"), read("m365-audit.json")


def _run(tmp_path, records):
    cfg = load_config(None, data_dir=str(tmp_path / "d"))
    p = build_live_pipeline(cfg, open_state(cfg.data_path))
    b = p.process(records)
    return b


def _same(a: dict, b: dict, keys) -> None:
    for k in keys:
        assert a.get(k) == b.get(k), (k, a.get(k), b.get(k))


def test_signin_and_office_rows_match_the_api_records(tmp_path, day):
    signins, audit = day
    api = [RawRecord(text=json.dumps(r), source="api", format=None) for r in signins + audit]
    rows = [RawRecord(text=json.dumps(signin_row(r)), source="la", format=None) for r in signins] + \
           [RawRecord(text=json.dumps(office_row(r)), source="la", format=None) for r in audit]
    a, b = _run(tmp_path / "a", api), _run(tmp_path / "b", rows)
    assert not b.rejects and len(a.events) == len(b.events) == len(signins) + len(audit)
    for x, y in zip(a.events, b.events):
        _same(x, y, ("@timestamp", "event.dataset", "event.category", "event.outcome", "user.name", "source.ip",
                     "error.code", "event.action"))
        assert y["sentinel.table"] in ("SigninLogs", "OfficeActivity")
    assert sorted(d.rule_title for d in a.detections) == sorted(d.rule_title for d in b.detections)
    assert any("MFA fatigue" in d.rule_title for d in b.detections)
    assert any("MFA" in d.rule_title or "forward" in d.rule_title.lower() for d in b.detections)


def test_audit_rows_from_panthers_entra_events(tmp_path):
    doc = yaml.safe_load((DATA / "panther/azure_signin_rules/azure_service_principal_credentials_added.yml").read_text())
    for case in doc["Tests"]:
        log = case["Log"] if isinstance(case["Log"], dict) else json.loads(case["Log"])
        p = log["properties"]
        row = {"Type": "AuditLogs", "TimeGenerated": log.get("time") or p["activityDateTime"],
               "OperationName": p["activityDisplayName"], "Category": p.get("category"), "Result": p.get("result"),
               "InitiatedBy": json.dumps(p.get("initiatedBy", {})), "TargetResources": json.dumps(p.get("targetResources", [])),
               "AdditionalDetails": json.dumps(p.get("additionalDetails", [])), "Id": p.get("id")}
        b = _run(tmp_path / str(case["Name"])[:20].replace(" ", "_"), [RawRecord(text=json.dumps(row), source="la")])
        fired = any(d.rule_title.startswith("Credentials or a certificate added") for d in b.detections)
        assert fired == case["ExpectedResult"], case["Name"]


def test_security_event_rows_from_an_otrf_recording(tmp_path, data):
    z = data / "otrf/datasets/atomic/windows/credential_access/host/cmd_psexec_lsa_secrets_dump.zip"
    with zipfile.ZipFile(z) as f:
        lines = [json.loads(x) for x in f.read(f.namelist()[0]).splitlines() if x.strip()]
    sec = [e for e in lines if e.get("Channel") == "Security"][:3000]
    assert sec
    rows = []
    for e in sec:
        row = {k: v for k, v in e.items() if k not in ("Hostname", "@timestamp", "TimeCreated", "Message", "host", "port",
                                                      "tags", "@version", "EventReceivedTime")}
        row.update({"Type": "SecurityEvent", "TimeGenerated": e.get("@timestamp") or e["TimeCreated"], "Computer": e["Hostname"],
                    "EventID": int(e["EventID"])})
        rows.append(row)
    a = _run(tmp_path / "a", [RawRecord(text=json.dumps(e), source="otrf") for e in sec])
    b = _run(tmp_path / "b", [RawRecord(text=json.dumps(r), source="la") for r in rows])
    assert not b.rejects and len(b.events) == len(a.events)
    for x, y in zip(a.events, b.events):
        _same(x, y, ("@timestamp", "event.code", "host.name", "user.name", "source.ip", "winlog.channel"))
    assert sorted(d.rule_title for d in a.detections) == sorted(d.rule_title for d in b.detections)
    assert any("pipe opened from another machine" in d.rule_title for d in b.detections)
