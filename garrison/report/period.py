"""Report periods: ``12m``, ``30d``, ``2026-Q3``, ``2026-11`` (a month), ``FROM..TO`` (dates, inclusive).

Relative periods end today; each period knows the one before it, of the same length, for comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from garrison.errors import GarrisonError


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end, "the period before")

    def day_names(self) -> list[str]:
        return [(self.start + timedelta(days=i)).isoformat() for i in range(self.days)]


def _months_back(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    m += 1
    last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
    return date(y, m, min(d.day, last))


def parse_period(text: str, today: date | None = None) -> Period:
    today = today or date.today()
    s = text.strip()
    if m := re.fullmatch(r"(\d{1,3})\s*(d|w|m|y)", s, re.I):
        n, unit = int(m.group(1)), m.group(2).lower()
        if n < 1:
            raise GarrisonError(f"bad period {text!r}: the length must be at least 1")
        if unit in ("d", "w"):
            start = today - timedelta(days=n * (7 if unit == "w" else 1) - 1)
        else:
            start = _months_back(today, n * (12 if unit == "y" else 1)) + timedelta(days=1)
        words = {"d": "day", "w": "week", "m": "month", "y": "year"}[unit]
        return Period(start, today, f"the last {n} {words}{'s' if n > 1 else ''}")
    if m := re.fullmatch(r"(\d{4})-?Q([1-4])", s, re.I):
        y, q = int(m.group(1)), int(m.group(2))
        start = date(y, 3 * q - 2, 1)
        end = (date(y + (q == 4), (3 * q) % 12 + 1, 1)) - timedelta(days=1)
        return Period(start, end, f"{y} quarter {q} ({start:%B} to {end:%B})")
    if m := re.fullmatch(r"(\d{4})-(\d{2})", s):
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            raise GarrisonError(f"bad period {text!r}: no month {mo}")
        start = date(y, mo, 1)
        end = date(y + (mo == 12), mo % 12 + 1, 1) - timedelta(days=1)
        return Period(start, end, f"{start:%B %Y}")
    if ".." in s:
        a, _, b = s.partition("..")
        try:
            start, end = date.fromisoformat(a.strip()), date.fromisoformat(b.strip())
        except ValueError as e:
            raise GarrisonError(f"bad period {text!r}: {e} (use YYYY-MM-DD..YYYY-MM-DD)") from e
        if end < start:
            raise GarrisonError(f"bad period {text!r}: it ends before it starts")
        return Period(start, end, f"{start:%-d %B %Y} to {end:%-d %B %Y}")
    raise GarrisonError(f"bad period {text!r}: use 12m, 30d, 2026-Q3, 2026-11 or 2026-07-01..2026-09-30")
