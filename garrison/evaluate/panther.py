"""Panther's Entra ID and Microsoft 365 rule tests (``panther/``), for the behaviours Garrison covers.

Each Panther rule file carries test events (``Tests[].Log``) and whether the rule must fire on each
(``ExpectedResult``). For a Panther rule whose behaviour one of Garrison's own rules covers, every test
event goes through Garrison's parser and that rule alone: a fire where Panther expects one is detected,
a fire where Panther expects none is wrongly flagged. For behaviours Garrison counts over time (brute
force), the per-event rule is the failed sign-in that the correlation counts, as Panther's own tests
check only the per-event condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.load import load_rules
from garrison.detect.sigma.rulesets import builtin_pack
from garrison.detect.detectors.mailbox import MailboxStage
from garrison.errors import ParseError
from garrison.model.batch import Batch
from garrison.model import RawRecord
from garrison.parse import ParseState, parse_record

# Panther rule file -> (behaviour, Garrison rule file under detect/rules, or a detector)
COVERED = {
    "azure_signin_rules/azure_legacyauth.yml": ("legacy-protocol sign-in", "authentication/legacy_auth.yml"),
    "azure_signin_rules/azure_mfa_disabled.yml": ("MFA disabled", "detector:mailbox"),
    "microsoft_rules/microsoft365_mfa_disabled.yml": ("MFA disabled", "cloud/mfa_disabled.yml"),
    "microsoft_rules/microsoft_exchange_external_forwarding.yml": ("mail forwarding", "detector:mailbox"),
    "microsoft_rules/microsoft365_brute_force_login_by_user.yml": ("failed sign-in (brute force input)",
                                                                   "authentication/auth_failure.yml"),
    "azure_signin_rules/azure_failed_signins.yml": ("failed sign-in (brute force input)",
                                                    "authentication/auth_failure.yml"),
    "azure_signin_rules/azure_service_principal_credentials_added.yml": ("app credentials added",
                                                                         "cloud/app_credentials_added.yml"),
    "azure_signin_rules/azure_domain_trust_settings_modified.yml": ("federation changed", "cloud/federation_changed.yml"),
}


@dataclass
class PantherCase:
    panther_rule: str
    behaviour: str
    index: int
    expected: bool
    fired: bool
    error: str | None = None


def run_panther(data: Path) -> list[PantherCase]:
    out = []
    for rel, (behaviour, garrison_rule) in COVERED.items():
        doc = yaml.safe_load((data / "panther" / rel).read_text())
        if garrison_rule == "detector:mailbox":
            stage = MailboxStage()
            engine = None
        else:
            rs = load_rules([builtin_pack() / garrison_rule])
            engine = SigmaEngine(rs.rules, [])
        for i, test in enumerate(doc.get("Tests") or []):
            log = test.get("Log")
            st = ParseState(f"panther:{rel}#{i}")
            try:
                ev = parse_record(RawRecord(text=None, source=st.source, position=i, obj=log), st)
            except ParseError as e:
                out.append(PantherCase(doc.get("RuleID", rel), behaviour, i, bool(test.get("ExpectedResult")), False,
                                       str(e)))
                continue
            if engine is not None:
                fired = bool(ev) and bool(engine.match(ev, ev.get("@timestamp") or 0))
            else:
                b = Batch([ev] if ev else [], [])
                stage(b)
                fired = bool(b.detections)
            out.append(PantherCase(doc.get("RuleID", rel), behaviour, i, bool(test.get("ExpectedResult")), fired))
    return out
