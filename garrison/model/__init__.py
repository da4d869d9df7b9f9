"""Garrison's shared types. Imports nothing else from garrison."""

from garrison.model.event import (
    CORE_COLUMNS,
    Event,
    RawRecord,
    Reject,
    iso_from_us,
    us_from_iso,
)

__all__ = ["CORE_COLUMNS", "Event", "RawRecord", "Reject", "iso_from_us", "us_from_iso"]
