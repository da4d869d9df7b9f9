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
