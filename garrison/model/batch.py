"""A batch: what one pass of the pipeline produced; the store commits it in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from garrison.model.decision import Decision
from garrison.model.detection import Detection
from garrison.model.event import Event, Reject


@dataclass
class Batch:
    events: list[Event]
    rejects: list[Reject]
    detections: list[Detection] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    suppressed: list[Detection] = field(default_factory=list)  # stored, marked, and otherwise left alone
    # run inside the commit's transaction, after detections have their ids (triage writes incidents here)
    in_commit: list[Callable[[Any], None]] = field(default_factory=list)
    # run after the commit is durable (notifications)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
