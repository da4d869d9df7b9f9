"""Issue 19: the cloud attack rules of Garrison's pack, on records in Graph's and the unified audit log's
shapes (each rule's positive and its nearest benign case), and on simulated benign days."""

from __future__ import annotations

import json

import pytest

from garrison.config import load_config
from garrison.evaluate.otrf import benign_days
from garrison.model import RawRecord
from garrison.pipeline.runner import build_live_pipeline
from garrison.store import open_state


def audit(action: str, targets: list | None = None, details: list | None = None) -> dict:
    return {"id": "Directory_1", "category": "RoleManagement", "activityDisplayName": action, "result": "success",
            "activityDateTime": "2026-12-04T10:00:00Z", "loggedByService": "Core Directory",
            "initiatedBy": {"user": {"userPrincipalName": "admin@council.example", "ipAddress": "81.2.69.161"}},
            "targetResources": targets or [], "additionalDetails": details or []}


def role(name: str) -> list:
    return [{"type": "User", "userPrincipalName": "kim.ward@council.example", "modifiedProperties": [
        {"displayName": "Role.DisplayName", "oldValue": None, "newValue": json.dumps(name)}]}]


def consent(scopes: str) -> list:
    return [{"type": "ServicePrincipal", "displayName": "Invoice Reader", "modifiedProperties": [
        {"displayName": "ConsentAction.Permissions", "newValue": f"[] => [[Scope: {scopes}, ]]"}]}]


def mail(access_type: str, **extra) -> dict:
    return {"CreationTime": "2026-12-04T10:00:00", "Id": "m1", "Operation": "MailItemsAccessed", "RecordType": 50,
            "Workload": "Exchange", "UserId": "kim.ward@council.example", "ClientIPAddress": "185.220.101.4",
            "ResultStatus": "Succeeded", "MailAccessType": access_type, "OperationCount": 1, **extra}


CASES = [
    ("A user made Global Administrator", audit("Add member to role", role("Global Administrator")), True),
    ("A user made Global Administrator", audit("Add member to role", role("Application Administrator")), False),
    ("A user made Global Administrator", audit("Add member to role in PIM requested (permanent)", role("Global Administrator")), False),
    ("Consent to an application with high-privilege permissions", audit("Consent to application", consent("Mail.ReadWrite offline_access")), True),
    ("Consent to an application with high-privilege permissions", audit("Consent to application", consent("User.Read openid")), False),
    ("Credentials or a certificate added to an application or service principal", audit("Update application – Certificates and secrets management "), True),
    ("Federation settings of a domain changed", audit("Set federation settings on domain"), True),
    ("A whole mailbox folder downloaded (MailItemsAccessed sync)", mail("Sync"), True),
    ("A whole mailbox folder downloaded (MailItemsAccessed sync)", mail("Bind"), False),
    ("Mail read by an application through Graph or EWS", mail("Bind", AppAccessContext={"ClientAppId": "9e1b"}, ClientAppId="9e1b"), True),
    ("Mail read by an application through Graph or EWS", mail("Bind", ClientInfoString="Client=OWA;Action=ViaProxy", ClientAppId="00000002"), False),
]


@pytest.mark.parametrize("title, record, fires", CASES)
def test_cloud_rule(tmp_path, title, record, fires):
    cfg = load_config(None, data_dir=str(tmp_path))
    fmt = "m365" if "Operation" in record else "entra_audit"
    b = build_live_pipeline(cfg, open_state(tmp_path)).process([RawRecord(text=json.dumps(record), source="t", format=fmt)])
    assert not b.rejects
    assert (title in {d.rule_title for d in b.detections}) == fires


def test_the_cloud_pack_is_quiet_on_benign_days(tmp_path):
    b = benign_days(tmp_path, days=2, staff=1000, scale=0.3, folders=("cloud",))
    assert b.events > 5000 and not b.detections and b.pack_incidents == 0
