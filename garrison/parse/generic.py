"""Generic JSON lines with a configurable field map, and raw text kept as is."""

from __future__ import annotations

import time
from typing import Any

from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.model.time import any_us

_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "date", "eventTime", "EventTime")


def flatten(obj: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            flatten(v, key + ".", out)
        else:
            out[key] = v
    return out


def parse_generic_json(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """Flatten to dotted keys, then rename with ``st.field_map`` (source key -> ECS name)."""
    flat = flatten(obj)
    ev: Event = {"event.original": text, "event.kind": "event"}
    fmap = st.field_map
    for k, v in flat.items():
        ev[fmap.get(k, k)] = v
    stamp = ev.get("@timestamp")
    if stamp is None or isinstance(stamp, str) or isinstance(stamp, float):
        for key in ("@timestamp",) + _TIME_KEYS:
            if (val := ev.get(key)) is not None:
                try:
                    ev["@timestamp"] = any_us(val)
                    break
                except (ValueError, TypeError):
                    continue
    if not isinstance(ev.get("@timestamp"), int):
        ev.pop("@timestamp", None)
    ev.setdefault("event.dataset", "json")
    return ev


def parse_raw(text: str, st: ParseState) -> Event:
    """Keep a line that no parser understands, as an event of dataset 'raw'."""
    return {"event.original": text, "message": text, "event.kind": "event", "event.dataset": "raw",
            "@timestamp": int(time.time() * 1_000_000)}
