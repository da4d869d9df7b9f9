"""Feed a simulated folder as the estate would: every source at once, in time order, day by day.

Each file is sorted by time. Garrison's own parsers read each line's time, and the files are cut into
windows of ``WINDOW_US`` of event time: all sources' lines of one window go before any of the next, so the
pipeline sees the sources within a minute of each other, as it would live.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

import httpx
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from garrison.errors import ParseError
from garrison.model import RawRecord
from garrison.parse import ParseState, parse_record
from garrison.simulate.generate import read_manifest

WINDOW_US = 60_000_000


def _times(path: Path, fmt: str, lines: list[str]) -> list[int]:
    """Each line's event time (a line without one keeps the time before it, so the list stays sorted)."""
    st = ParseState(str(path), format=fmt, forced=True)
    out, last = [], 0
    for i, line in enumerate(lines, 1):
        try:
            ev = parse_record(RawRecord(text=line, source=str(path), position=i, format=fmt), st)
        except ParseError:
            ev = None
        t = ev.get("@timestamp") if ev else None
        last = max(last, t) if isinstance(t, int) else last
        out.append(last)
    return out


def interleaved(folder: str | Path, window_us: int = WINDOW_US) -> Iterator[tuple[Path, str, int, list[str]]]:
    """(file, format, line number of the first line, lines) slices, window by window of event time."""
    files = read_manifest(folder)
    for _day, group in groupby(files, key=lambda f: f[0].parent.name):
        day = []
        for p, fmt in group:
            lines = p.read_text(encoding="utf-8").splitlines()
            day.append((p, fmt, lines, _times(p, fmt, lines)))
        starts = [ts[0] for *_, ts in day if ts]
        if not starts:
            continue
        edge = min(starts) + window_us
        done = [0] * len(day)
        while any(done[i] < len(day[i][2]) for i in range(len(day))):
            for i, (p, fmt, lines, ts) in enumerate(day):
                b = bisect.bisect_left(ts, edge, lo=done[i])
                if b > done[i]:
                    yield p, fmt, done[i] + 1, lines[done[i]:b]
                    done[i] = b
            edge += window_us


def replay(folder: str | Path, url: str, token: str, chunk: int = 2000, progress: bool = False,
           timeout: float = 60.0) -> int:
    """POST every line to ``/api/v1/ingest?format=…``; returns the number of lines acknowledged."""
    total = sum(1 for p, _ in read_manifest(folder) for _ in open(p, encoding="utf-8"))
    sent = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as client, \
            Progress(TextColumn("replay"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
                     TimeRemainingColumn(), disable=not progress) as bar:
        task = bar.add_task("replay", total=total, rate="")
        for p, fmt, _first, lines in interleaved(folder):
            for i in range(0, len(lines), chunk):
                part = lines[i:i + chunk]
                r = client.post("/api/v1/ingest", params={"format": fmt, "source": p.name},
                                content=("\n".join(part) + "\n").encode())
                if r.status_code >= 300:
                    raise RuntimeError(f"{url} refused {p} lines {_first + i}..: HTTP {r.status_code} {r.text[:200]}")
                sent += len(part)
                bar.update(task, advance=len(part), rate=f"{bar.tasks[0].speed or 0:,.0f} lines/s")
    return sent
