"""Exactly once for pulled records: record ids and stream checkpoints, kept in the commit that stores them.

A connector re-reads an overlap window each round (late records are not lost) and may re-read a page after
a crash; the ids stored here make the second copy a duplicate, dropped before detection and counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, select

from garrison.store import state as S
from garrison.store.upsert import upsert as _upsert

CHUNK = 500


def now_us() -> int:
    return int(time.time() * 1_000_000)


def seen(engine: Engine, stream: str, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are already stored for ``stream``."""
    ids = list(dict.fromkeys(ids))
    out: set[str] = set()
    with engine.connect() as c:
        for i in range(0, len(ids), CHUNK):
            q = select(S.seen_records.c.record_id).where(S.seen_records.c.stream == stream,
                                                         S.seen_records.c.record_id.in_(ids[i:i + CHUNK]))
            out.update(r[0] for r in c.execute(q))
    return out


def remember(c: Any, pairs: Iterable[tuple[str, str]]) -> None:
    """Inside the commit: these (stream, record id) are stored."""
    t = now_us()
    _upsert(c, S.seen_records, [{"stream": s, "record_id": r, "ts": t} for s, r in pairs],
            ["stream", "record_id"], [])


def save_checkpoints(c: Any, checkpoints: dict[str, int]) -> None:
    """Inside the commit: each stream has been read up to its checkpoint (never moved back)."""
    t = now_us()
    rows = []
    for stream, cp in checkpoints.items():
        old = c.execute(select(S.connector_state.c.checkpoint).where(S.connector_state.c.stream == stream)).scalar()
        rows.append({"stream": stream, "checkpoint": max(cp, old or 0), "updated_at": t})
    _upsert(c, S.connector_state, rows, ["stream"], ["checkpoint", "updated_at"])


def checkpoints(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {r.stream: r.checkpoint for r in c.execute(select(S.connector_state))}


def prune(engine: Engine, older_than_us: int) -> int:
    """Forget ids stored before ``older_than_us`` (beyond any overlap window a connector re-reads)."""
    with engine.begin() as c:
        return c.execute(delete(S.seen_records).where(S.seen_records.c.ts < older_than_us)).rowcount or 0
