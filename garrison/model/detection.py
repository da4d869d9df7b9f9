"""A detection: one rule matched one event (or a correlation matched a group of events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from garrison.model.event import Event, iso_from_us

LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass(slots=True)
class Detection:
    rule_id: str
    rule_title: str
    level: str
    tags: list[str]
    timestamp: int  # epoch us of the (last) matching event
    event: Event
    kind: str = "sigma"  # sigma | correlation | detector
    source_file: str | None = None
    source_record: int | None = None
    group: dict[str, Any] | None = None  # correlation: the group-by values
    evidence: list[Event] = field(default_factory=list)  # correlation: the events that made it fire
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The hunt --json line: rule_id, rule_title, level, tags, timestamp, source, event."""
        d: dict[str, Any] = {"rule_id": self.rule_id, "rule_title": self.rule_title, "level": self.level,
                             "tags": self.tags, "timestamp": iso_from_us(self.timestamp),
                             "source": {"file": self.source_file, "record": self.source_record},
                             "event": self.event}
        if self.kind != "sigma":
            d["kind"] = self.kind
        if self.group is not None:
            d["group"] = self.group
            d["events"] = len(self.evidence)
        return d


ATTEMPT_CATEGORIES = ("password_guessing", "scan", "web_attack", "phishing", "malware", "other")


def attempt_category(d: Detection) -> str:
    """The report's category of an attempt, from its ATT&CK tags and rule."""
    tags = {t.lower() for t in d.tags}
    if any(t.startswith("attack.t1110") for t in tags) or "attack.credential-access" in tags and "attack.t1078" in tags:
        return "password_guessing"
    if d.rule_id.startswith("garrison.web.") or "attack.t1190" in tags:
        return "web_attack"
    if any(t.startswith(("attack.t1046", "attack.t1595", "attack.t1590")) for t in tags) or "attack.discovery" in tags \
            and d.event.get("event.category") == "network":
        return "scan"
    if any(t.startswith(("attack.t1566", "attack.t1598")) for t in tags):
        return "phishing"
    if any(t.startswith(("attack.t1204", "attack.t1486", "attack.t1490", "attack.t1059", "attack.t1105")) for t in tags) \
            or "attack.impact" in tags or "attack.execution" in tags:
        return "malware"
    return "other"


def attempt_blocked(d: Detection) -> bool:
    """Stopped by a ban of Garrison's in force, or denied by the device that logged it."""
    ev = d.event
    return bool(d.extra.get("decision_id")) or ev.get("event.type") == "denied" or ev.get("event.action") in (
        "block", "drop", "reject", "deny", "denied")
