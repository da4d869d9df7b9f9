"""Microsoft 365 and Entra ID changes that need a comparison Sigma can't express.

- **Mail forwarded outside the organisation** (high): an inbox rule (New-/Set-InboxRule, UpdateInboxRules)
  or mailbox forwarding (Set-Mailbox ForwardingSmtpAddress/ForwardingAddress) whose target address is in
  a domain that is neither the user's own (nor a sub- or parent domain of it), nor the tenant's
  (``organizationname``), nor one of ``own_domains``. Business email compromise sets one up right
  after an account takeover.
- **MFA removed from a conditional access policy** (high): a policy update whose old value required MFA
  (``builtInControls`` with ``mfa``) and whose new value does not.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from garrison.model.batch import Batch
from garrison.model.detection import Detection

_FORWARD_PARAMS = {"forwardto", "redirectto", "forwardasattachmentto", "forwardingsmtpaddress", "forwardingaddress"}
_RULE_OPS = {"new-inboxrule", "set-inboxrule", "updateinboxrules", "set-mailbox"}
_ADDR = re.compile(r"[\w.+'-]+@([\w-]+(?:\.[\w-]+)+)")
TAGS_FORWARD = ["attack.collection", "attack.t1114.003", "attack.persistence", "attack.t1137.005"]
TAGS_MFA = ["attack.persistence", "attack.t1556.006", "attack.defense-evasion"]


def _related(a: str, b: str) -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _params(ev: dict[str, Any]) -> list[tuple[str, str]]:
    for key in ("o365.audit.Parameters", "o365.audit.parameters"):
        raw = ev.get(key)
        if isinstance(raw, list):
            return [(str(p.get("Name") or p.get("name") or ""), str(p.get("Value") or p.get("value") or ""))
                    for p in raw if isinstance(p, dict)]
    return []


def forwarding_targets(ev: dict[str, Any]) -> list[str]:
    """The domains mail is forwarded or redirected to by this Exchange operation."""
    if str(ev.get("event.action") or "").lower() not in _RULE_OPS:
        return []
    return [m.group(1) for name, value in _params(ev) if name.lower() in _FORWARD_PARAMS
            for m in _ADDR.finditer(value)]


def external_forwarding(ev: dict[str, Any], own_domains: tuple[str, ...] = ()) -> list[str]:
    targets = forwarding_targets(ev)
    if not targets:
        return []
    ours = list(own_domains)
    user = str(ev.get("user.name") or "")
    if "@" in user:
        ours.append(user.rsplit("@", 1)[1])
    for key in ("o365.audit.organizationname", "o365.audit.OrganizationName"):
        if ev.get(key):
            ours.append(str(ev[key]))
    return [t for t in targets if not any(_related(t, o) for o in ours)]


def mfa_removed_from_policy(ev: dict[str, Any]) -> bool:
    if "conditional access policy" not in str(ev.get("event.action") or "").lower():
        return False
    for t in ev.get("azure.auditlogs.properties.target_resources") or []:
        for m in (t.get("modifiedProperties") or []) if isinstance(t, dict) else []:
            old, new = str(m.get("oldValue") or "").lower(), str(m.get("newValue") or "").lower()
            if _requires_mfa(old) and not _requires_mfa(new):
                return True
    return False


def _requires_mfa(policy_json: str) -> bool:
    try:
        doc = orjson.loads(policy_json)
    except orjson.JSONDecodeError:
        return '"mfa"' in policy_json
    grant = doc.get("grantcontrols") if isinstance(doc, dict) else None
    state = doc.get("state") if isinstance(doc, dict) else None
    return isinstance(grant, dict) and "mfa" in (grant.get("builtincontrols") or []) and state != "disabled"


class MailboxStage:
    def __init__(self, own_domains: tuple[str, ...] = ()):
        self.own = own_domains

    def __call__(self, batch: Batch) -> None:
        for ev in batch.events:
            ds = ev.get("event.dataset")
            if ds == "m365.audit":
                outside = external_forwarding(ev, self.own)
                if outside:
                    batch.detections.append(Detection(
                        "garrison.m365.external_forwarding", "Mailbox forwards mail outside the organisation", "high",
                        list(TAGS_FORWARD), ev.get("@timestamp") or 0, ev, kind="detector",
                        extra={"forwarded_to": sorted(set(outside))}))
            elif ds == "entra.audit" and mfa_removed_from_policy(ev):
                batch.detections.append(Detection(
                    "garrison.entra.mfa_policy_removed", "MFA requirement removed from a conditional access policy",
                    "high", list(TAGS_MFA), ev.get("@timestamp") or 0, ev, kind="detector"))
