"""A batch: what one pass of the pipeline produced; the store commits it in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

from garrison.model.decision import Decision
from garrison.model.detection import Detection
from garrison.model.event import Event, Reject


@dataclass
class Batch:
    events: list[Event]
    rejects: list[Reject]
    detections: list[Detection] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
