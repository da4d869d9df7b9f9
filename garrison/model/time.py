"""Fast timestamp parsing for log formats, with small caches.

Log lines of one file share most of their timestamp text, so the date part is
parsed once and cached; the time of day is added arithmetically.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timedelta, timezone

from garrison.model.event import us_from_iso

MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_day_cache: dict[tuple[int, int, int], int] = {}


def _day_us(year: int, month: int, day: int) -> int:
    key = (year, month, day)
    v = _day_cache.get(key)
    if v is None:
        v = calendar.timegm((year, month, day, 0, 0, 0)) * 1_000_000
        if len(_day_cache) > 50_000:
            _day_cache.clear()
        _day_cache[key] = v
    return v


_bsd_cache: dict[tuple[str, int | None], int] = {}


def bsd_us(text: str, reference_us: int | None = None) -> int:
    """Cached: a log has many lines per second."""
    key = (text, reference_us)
    v = _bsd_cache.get(key)
    if v is None:
        if len(_bsd_cache) > 100_000:
            _bsd_cache.clear()
        v = _bsd_cache[key] = _bsd_us(text, reference_us if reference_us is not None else _now_hour_us())
    return v


def _now_hour_us() -> int:
    # rounded so that the cache key stays stable; a day of slack is allowed anyway
    return int(time.time() // 3600 * 3600 * 1_000_000)


def _bsd_us(text: str, reference_us: int | None = None) -> int:
    """'Dec 10 06:55:46' (RFC 3164, no year, local time taken as UTC).

    The year is the one that puts the time closest before ``reference_us``
    (the file's mtime on import, now when live), allowing one day of skew.
    """
    if text[5] == " ":  # 'Jun 7 01:10:56': day without padding
        text = text[:4] + "0" + text[4:]
    month = MONTHS[text[0:3]]
    day = int(text[4:6])
    hh, mm, ss = int(text[7:9]), int(text[10:12]), int(text[13:15])
    ref = reference_us if reference_us is not None else int(time.time() * 1_000_000)
    year = datetime.fromtimestamp(ref / 1_000_000, tz=timezone.utc).year
    tod = (hh * 3600 + mm * 60 + ss) * 1_000_000
    us = _day_us(year, month, day) + tod
    if us > ref + 86_400_000_000:
        us = _day_us(year - 1, month, day) + tod
    return us


def clf_us(text: str) -> int:
    """'08/Jun/2020:06:49:01 +0000' (Apache/nginx access logs)."""
    day = int(text[0:2])
    month = MONTHS[text[3:6]]
    year = int(text[7:11])
    hh, mm, ss = int(text[12:14]), int(text[15:17]), int(text[18:20])
    us = _day_us(year, month, day) + (hh * 3600 + mm * 60 + ss) * 1_000_000
    tz = text[21:26]
    if len(tz) == 5 and tz != "+0000":
        sign = -1 if tz[0] == "+" else 1
        us += sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60) * 1_000_000
    return us


_iso_cache: dict[str, int] = {}


def _iso_seconds(head: str) -> int:
    v = _iso_cache.get(head)
    if v is None:
        if len(_iso_cache) > 100_000:
            _iso_cache.clear()
        base = _day_us(int(head[0:4]), int(head[5:7]), int(head[8:10]))
        v = _iso_cache[head] = base + (int(head[11:13]) * 3600 + int(head[14:16]) * 60 + int(head[17:19])) * 1_000_000
    return v


def iso_us(text: str) -> int:
    """ISO-8601 in any of its log spellings; caches per second."""
    # Fast path: 'YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+00:00]', UTC
    if len(text) >= 19 and text[4] == "-" and text[7] == "-" and text[13] == ":":
        tail = text[19:]
        if tail in ("", "Z", "+00:00", "z") or (tail.startswith(".") and (tail.endswith("Z") or tail[1:].isdigit())):
            us = _iso_seconds(text[:19])
            if tail.startswith("."):
                frac = tail[1:].rstrip("Zz")[:6]
                us += int(frac.ljust(6, "0")) if frac else 0
            return us
    return us_from_iso(text)


def strptime_us(text: str, *formats: str) -> int | None:
    """The first of ``formats`` that reads ``text`` (runs of spaces folded), as UTC where it names no zone; None
    when none does. For the rarer stamps, where a cache-free strptime costs nothing that matters."""
    text = " ".join(text.split())
    for fmt in formats:
        try:
            d = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return int((d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp() * 1_000_000)
    return None


def epoch_us(value: float | int | str) -> int:
    """Seconds since the epoch (Zeek's ts), possibly as a string."""
    return int(round(float(value) * 1_000_000))


def any_us(value: object) -> int:
    """Best effort for JSON time fields: epoch seconds/ms or ISO text."""
    if isinstance(value, (int, float)):
        v = float(value)
        if v > 1e14:  # microseconds
            return int(v)
        if v > 1e11:  # milliseconds
            return int(v * 1000)
        return int(v * 1_000_000)
    if isinstance(value, str):
        s = value.strip()
        if s.replace(".", "", 1).isdigit():
            return any_us(float(s))
        return iso_us(s)
    raise ValueError(f"unsupported time value {value!r}")


US_PER_DAY = 86_400_000_000
_day_names: dict[int, str] = {}


def day_of(us: int) -> str:
    d = us // US_PER_DAY
    name = _day_names.get(d)
    if name is None:
        name = (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(days=d)).strftime("%Y-%m-%d")
        _day_names[d] = name
    return name
