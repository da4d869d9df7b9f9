"""The schema's types and ranges, checked where a parsed event enters the pipeline.

A parser turns hostile text into values; this is where a value that no later stage can
hold safely (an integer past 64 bits, a time in the year 10^300, a list where an address
belongs, nesting a thousand deep) stops the record, with a reason, before it reaches one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from garrison.model.event import CORE_COLUMNS, Event

_I64 = 2**63
# Fields whose meaning bounds them tighter than int64.
_INT_RANGES: dict[str, tuple[int, int]] = {
    "source.port": (0, 65535),
    "destination.port": (0, 65535),
    "http.response.status_code": (0, 999),
    "winlog.event_id": (0, 2**32 - 1),
    "process.pid": (0, 2**32 - 1),
    "event.severity": (-(2**31), 2**31 - 1),
    "source.as.number": (0, 2**32 - 1),
}
_US_PER_YEAR = 31_556_952_000_000
_IP_FIELDS = ("source.ip", "destination.ip", "observer.ip", "client.ip", "server.ip", "host.ip")


@dataclass(frozen=True)
class Bounds:
    min_year: int = 1970
    max_year: int = 2100
    max_depth: int = 32  # nesting of objects and lists inside one field
    max_fields: int = 4096

    def time_range(self) -> tuple[int, int]:
        return (self.min_year - 1970) * _US_PER_YEAR, (self.max_year - 1970 + 1) * _US_PER_YEAR


class OutOfBounds(ValueError):
    """The event holds a value the schema can't keep; the record goes to the quarantine with this reason."""


def _depth_ok(v: Any, left: int) -> bool:
    if left < 0:
        return False
    if isinstance(v, dict):
        return all(_depth_ok(x, left - 1) for x in v.values())
    if isinstance(v, list):
        return all(_depth_ok(x, left - 1) for x in v)
    if isinstance(v, int) and not isinstance(v, bool):
        return -_I64 <= v < _I64
    return True


def check_event(ev: Event, bounds: Bounds) -> None:
    """Raise ``OutOfBounds`` naming the field and the reason; coerce the harmless (a number where text belongs).

    On the hot path most values are text, which needs no check outside the integer columns."""
    if len(ev) > bounds.max_fields:
        raise OutOfBounds(f"{len(ev)} fields, more than the limit of {bounds.max_fields}")
    lo, hi = bounds.time_range()
    for k in ("@timestamp", "event.ingested"):
        v = ev.get(k)
        if v is None:
            continue
        if type(v) is not int:
            raise OutOfBounds(f"{k}: expected a time, got {type(v).__name__}")
        if not lo <= v < hi:
            raise OutOfBounds(f"{k}: time outside the years {bounds.min_year}-{bounds.max_year} "
                              f"(ingest.min_year/max_year)")
    for k in _INT_COLUMNS:
        v = ev.get(k)
        if v is not None:
            _int_field(ev, k, v)
    for k, v in ev.items():
        t = type(v)
        if t is str:  # text is safe in any other field
            continue
        kind = _KIND.get(k)
        if v is None or kind == "ts" or kind == "int":
            continue
        if kind == "str":
            if (t is int or t is float) and (t is float or -_I64 <= v < _I64):
                ev[k] = str(v)
            elif t is list and all(type(x) is str for x in v) and k not in _IP_FIELDS:
                ev[k] = ",".join(v)  # ECS allows arrays in event.category/type; stored as one text
            elif t is not bool:
                raise OutOfBounds(f"{k}: expected text, got {t.__name__}")
            else:
                ev[k] = str(v)
        elif t is int:
            if not -_I64 <= v < _I64:
                raise OutOfBounds(f"{k}: an integer past 64 bits")
        elif (t is dict or t is list) and not _depth_ok(v, bounds.max_depth):
            raise OutOfBounds(f"{k}: nested deeper than {bounds.max_depth} levels, or an integer past 64 bits")


_KIND = CORE_COLUMNS
_INT_COLUMNS = tuple(k for k, kind in CORE_COLUMNS.items() if kind == "int")


def _int_field(ev: Event, k: str, v: Any) -> None:
    if type(v) is not int:
        if isinstance(v, str) and v.strip().lstrip("-").isdigit() and len(v) < 20:
            v = ev[k] = int(v)
        else:
            raise OutOfBounds(f"{k}: expected an integer, got {type(v).__name__}")
    a, b = _INT_RANGES.get(k, (-_I64, _I64 - 1))
    if not a <= v <= b:
        raise OutOfBounds(f"{k}: {str(v)[:24]} is outside {a}..{b}")
