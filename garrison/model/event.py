"""The normalised event: a flat dict keyed by Elastic Common Schema names.

On the hot path an event is a plain ``dict[str, Any]`` with dotted ECS keys,
for example ``{"@timestamp": 1700000000000000, "event.dataset": "sshd",
"source.ip": "203.0.113.9", "event.original": "..."}``. The schema is this
module: ``CORE_COLUMNS`` are stored as typed columns, every other key is kept
in the ``extra`` JSON column and comes back unchanged on read.

Conventions (docs/schema.md gives the mapping of each source):
- ``@timestamp`` is an int, microseconds since the Unix epoch, UTC.
- ``event.original`` is the raw text as received.
- Source-specific fields keep their own names, e.g. ``winlog.event_data.Image``.
- Garrison's own annotations live under ``garrison.*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

Event = dict[str, Any]

# name -> arrow type name ("ts", "str", "int"). Order is the on-disk order.
CORE_COLUMNS: dict[str, str] = {
    "@timestamp": "ts",
    "event.id": "int",
    "event.ingested": "ts",
    "organization.id": "str",
    "input.type": "str",
    "event.dataset": "str",
    "event.kind": "str",
    "event.category": "str",
    "event.type": "str",
    "event.action": "str",
    "event.outcome": "str",
    "event.code": "str",
    "event.severity": "int",
    "log.file.path": "str",
    "log.offset": "int",
    "host.name": "str",
    "observer.name": "str",
    "observer.type": "str",
    "observer.product": "str",
    "source.ip": "str",
    "source.port": "int",
    "source.geo.country_iso_code": "str",
    "source.as.number": "int",
    "source.as.organization.name": "str",
    "destination.ip": "str",
    "destination.port": "int",
    "destination.geo.country_iso_code": "str",
    "network.transport": "str",
    "network.protocol": "str",
    "network.direction": "str",
    "user.name": "str",
    "user.domain": "str",
    "process.name": "str",
    "process.pid": "int",
    "process.executable": "str",
    "process.command_line": "str",
    "process.parent.executable": "str",
    "url.original": "str",
    "url.path": "str",
    "url.domain": "str",
    "http.request.method": "str",
    "http.response.status_code": "int",
    "http.response.body.bytes": "int",
    "user_agent.original": "str",
    "winlog.channel": "str",
    "winlog.event_id": "int",
    "winlog.provider_name": "str",
    "rule.name": "str",
    "message": "str",
    "event.original": "str",
}


# The format of a record that carries a pulled stream's progress (meta: stream, checkpoint) instead of input:
# it travels in the same write-ahead-log append as the page it follows, and is saved in the same commit.
CHECKPOINT = "checkpoint"


@dataclass(slots=True)
class RawRecord:
    """One unit of input before parsing: a line of text, or an object from a JSON API.

    ``position`` is 1-based (line or record number); ``offset`` is a byte offset
    where known. ``format`` is a parser name or None to detect it.
    """

    text: str | None
    source: str
    position: int | None = None
    offset: int | None = None
    format: str | None = None
    obj: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def us_from_iso(value: str) -> int:
    """Parse an ISO-8601 timestamp into epoch microseconds (naive means UTC)."""
    s = value.strip().replace(" ", "T", 1)
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    # Python before 3.11 can't take 7-9 fractional digits; trim to 6.
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        frac = s[dot + 1 : end][:6]
        s = s[: dot + 1] + frac + s[end:] if frac else s[:dot] + s[end:]
    if len(s) > 5 and s[-5] in "+-" and s[-3] != ":" and s[-4:].isdigit():
        s = s[:-2] + ":" + s[-2:]  # +0000 -> +00:00
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso_from_us(us: int) -> str:
    """Epoch microseconds to an ISO-8601 string in UTC with a Z suffix."""
    secs, micros = divmod(us, 1_000_000)
    dt = datetime.fromtimestamp(secs, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"


@dataclass(slots=True)
class Reject:
    """Input that could not become an event: kept in the quarantine with the reason."""

    source: str
    reason: str
    raw: str
    position: int | None = None
    offset: int | None = None
    format: str | None = None
