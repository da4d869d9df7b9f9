"""Bytes to text as every source does it: UTF-8, with invalid bytes escaped and flagged, never dropped;
and the JSON values of a text holding several documents one after another."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def decode(raw: bytes, what: str = "line") -> tuple[str, str | None]:
    """(text, warning): invalid UTF-8 is kept as \\xNN escapes and named in the warning."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return raw.decode("utf-8", "backslashreplace"), f"invalid UTF-8 at byte {e.start} of the {what}"


def too_long(size: int, limit: int, what: str = "line") -> str:
    return f"{what} of {size} bytes exceeds the limit of {limit} (ingest.max_line_bytes)"


def json_values(text: str, separators: str = " \t\r\n") -> Iterator[tuple[Any, int]]:
    """Each JSON value in ``text`` with its start offset; raises json.JSONDecodeError at a malformed one."""
    dec = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos] in separators:
            pos += 1
        if pos >= len(text):
            return
        start = pos
        value, pos = dec.raw_decode(text, pos)
        yield value, start
