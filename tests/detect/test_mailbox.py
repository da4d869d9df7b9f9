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
