"""Garrison's error tree.

    GarrisonError
    ├── ConfigError        bad configuration file or value
    ├── InputError         one bad input record; carries a Location
    │   └── ParseError     no parser accepted the record, or the chosen one refused it
    ├── QueryError         a malformed search query; carries the column position
    ├── StoreError         the event store or state database failed
    │   └── Unavailable    cannot keep input right now (disk full, read-only): answer 503, retry later
    └── AuthError          missing or wrong credentials

Library exceptions are translated at the boundary with ``raise ... from``.
Every error names where it happened so that a person can find the input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where an input record came from: a source name and a position inside it."""

    source: str
    line: int | None = None  # 1-based line or record number
    offset: int | None = None  # byte offset, where known

    def __str__(self) -> str:
        parts = [self.source]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        return ":".join(parts[:1]) + (" " + ", ".join(parts[1:]) if parts[1:] else "")


class GarrisonError(Exception):
    """Base of every error Garrison raises on purpose."""


class ConfigError(GarrisonError):
    pass


class InputError(GarrisonError):
    def __init__(self, reason: str, location: Location | None = None):
        self.reason = reason
        self.location = location
        super().__init__(f"{location}: {reason}" if location else reason)


class ParseError(InputError):
    pass


class QueryError(GarrisonError):
    def __init__(self, message: str, query: str, position: int):
        self.position = position
        self.query = query
        pointer = " " * position + "^"
        super().__init__(f"{message} at position {position}\n  {query}\n  {pointer}")


class StoreError(GarrisonError):
    pass


class Unavailable(StoreError):
    """Input cannot be kept now; nothing of it was kept. ``retry_after`` in seconds."""

    def __init__(self, reason: str, retry_after: int = 5):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class AuthError(GarrisonError):
    pass


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one JSON error envelope of Garrison's own API: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}
