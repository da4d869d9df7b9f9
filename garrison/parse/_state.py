"""Per-stream parse state: what a parser may remember between lines of one stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ParseState:
    source: str
    format: str | None = None  # fixed by --format, or detected on the first line
    forced: bool = False  # True when the user chose the format
    reference_us: int | None = None  # 'now' for year inference of RFC 3164 stamps
    iis_fields: list[str] | None = None  # current W3C '#Fields:' header
    field_map: dict[str, str] = field(default_factory=dict)  # generic JSON mapping
    extra: dict[str, Any] = field(default_factory=dict)
