"""Poison isolation: one record that makes a stage raise goes to the quarantine, and the batch goes on.

A stage runs on the whole batch. If it raises, what it had added is taken back and it runs
again one event at a time; an event it still raises on is quarantined with the exception,
and the events around it keep their detections. The slow path is taken only on failure.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass, field

from garrison.model import Event, Reject
from garrison.model.batch import Batch
from garrison.model.detection import Detection

log = logging.getLogger("garrison.pipeline")
Stage = Callable[[Batch], None]


@dataclass
class StageFailures:
    """Per stage: how many times it raised on a batch, and how many events it was quarantined for."""

    batches: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None


def stage_name(stage: Stage) -> str:
    return getattr(stage, "name", None) or getattr(stage, "__name__", None) or type(stage).__name__


def describe(e: BaseException) -> str:
    """'ValueError: ... (at parse/web.py:120)': the exception and where it was raised, for the quarantine."""
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {tb[-1].filename.rsplit('garrison/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {str(e)[:300]}{where}"


def to_reject(ev: Event, reason: str) -> Reject:
    return Reject(str(ev.get("log.file.path") or "unknown"), reason, str(ev.get("event.original") or "")[:65536],
                  ev.get("log.file.line"), ev.get("log.offset"), ev.get("event.dataset"))


def run_stage(stage: Stage, batch: Batch, failures: StageFailures) -> None:
    lists = ("detections", "decisions", "suppressed", "in_commit", "after_commit")
    saved = {name: list(getattr(batch, name)) for name in lists}
    try:
        stage(batch)
        return
    except Exception as e:  # noqa: BLE001 - any failure of one stage on one batch is isolated here
        name = stage_name(stage)
        failures.batches[name] = failures.batches.get(name, 0) + 1
        failures.last_error = f"{name}: {describe(e)}"
        log.error("stage %s failed on a batch of %d events (%s); retrying event by event", name, len(batch.events),
                  describe(e))
    for n, v in saved.items():
        setattr(batch, n, v)
    by_event: dict[int, list[Detection]] = {id(ev): [] for ev in batch.events}
    loose: list[Detection] = []  # detections of events in earlier batches (correlations) ride with the first event
    for d in batch.detections:
        by_event.get(id(d.event), loose).append(d)
    out: dict[str, list[Any]] = {name: [] for name in lists}
    kept: list[Event] = []
    for ev in batch.events:
        sub = Batch([ev], [], detections=by_event[id(ev)] + loose, decisions=[], suppressed=[])
        try:
            stage(sub)
        except Exception as e:  # noqa: BLE001
            name = stage_name(stage)
            failures.events[name] = failures.events.get(name, 0) + 1
            batch.rejects.append(to_reject(ev, f"stage {name} failed on this event: {describe(e)}"))
            continue
        loose = []
        kept.append(ev)
        for n in lists:
            out[n].extend(getattr(sub, n))
    out["decisions"] = saved["decisions"] + out["decisions"]
    out["suppressed"] = saved["suppressed"] + out["suppressed"]
    out["in_commit"] = saved["in_commit"] + out["in_commit"]
    out["after_commit"] = saved["after_commit"] + out["after_commit"]
    out["detections"] += loose
    batch.events[:] = kept
    for n in lists:
        setattr(batch, n, out[n])
