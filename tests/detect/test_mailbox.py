"""Mail forwarding outside the organisation and MFA removed from a conditional access policy."""

from __future__ import annotations

from garrison.detect.detectors.mailbox import MailboxStage, external_forwarding
from garrison.model.batch import Batch


def _rule(user, target, op="New-InboxRule", param="ForwardTo"):
    return {"event.dataset": "m365.audit", "event.action": op, "user.name": user,
            "o365.audit.Parameters": [{"Name": "Name", "Value": "."}, {"Name": param, "Value": target}]}


def test_external_only():
    assert external_forwarding(_rule("ann@council.example", "x@protonmail.example")) == ["protonmail.example"]
    assert external_forwarding(_rule("ann@council.example", "bob@council.example")) == []
    assert external_forwarding(_rule("ann@council.example", "bob@schools.council.example")) == []  # a subdomain
    assert external_forwarding(_rule("ann@council.example", "smtp:ann@partner.example", "Set-Mailbox",
                                     "ForwardingSmtpAddress"), ("partner.example",)) == []
    assert external_forwarding(_rule("ann@council.example", "Newsletters", param="MoveToFolder")) == []


def test_stage_emits_a_detection():
    b = Batch([_rule("ann@council.example", "invoices@protonmail.example")], [])
    MailboxStage()(b)
    (d,) = b.detections
    assert d.rule_id == "garrison.m365.external_forwarding" and d.level == "high"
    assert d.extra["forwarded_to"] == ["protonmail.example"] and "attack.t1114.003" in d.tags


def test_user_reported_phishing_and_bad_senders(tmp_path):
    """A staff report becomes a phishing attempt; a sender on an indicator list is a threat-intel match."""
    import orjson

    from garrison.config import load_config
    from garrison.detect.detectors.intel import IntelStage
    from garrison.detect.sigma.stage import build_sigma_stage
    from garrison.detect.intel import load_intel
    from garrison.model import RawRecord
    from garrison.model.detection import attempt_category
    from garrison.pipeline import build_pipeline
    from garrison.store import open_state

    (tmp_path / "bad.csv").write_text("type,value,source,expires\ndomain,invoice-portal.example,partner-feed,2099-01-01\n")
    cfg = load_config(None, data_dir=str(tmp_path), enrich={"geoip": False})
    pipe = build_pipeline(cfg, [build_sigma_stage(cfg, open_state(tmp_path)), IntelStage(load_intel([tmp_path / "bad.csv"]))])
    rec = {"CreationTime": "2026-11-30T09:12:00", "Id": "1", "Operation": "UserSubmission", "Workload": "Exchange",
           "RecordType": 29, "UserId": "ann@council.example", "ResultStatus": "Succeeded",
           "P1Sender": "billing@invoice-portal.example", "Subject": "Overdue invoice 4471"}
    b = pipe.process([RawRecord(text=orjson.dumps(rec).decode(), source="m365", position=1, format="m365")])
    by = {d.rule_title: d for d in b.detections}
    report = by["Email reported by a member of staff as phishing"]
    assert attempt_category(report) == "phishing" and report.event["email.subject"] == "Overdue invoice 4471"
    intel = next(d for d in b.detections if d.rule_id.startswith("garrison.intel."))
    assert intel.extra["field"] == "email.from.address" and attempt_category(intel) == "phishing"
