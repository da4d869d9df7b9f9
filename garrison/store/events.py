"""The embedded event store: Parquet files partitioned by day, listed in a manifest.

Layout under the data directory::

    events/day=2026-11-28/p-000000000042-000.parquet
    state.db   (manifest `parts`, `commits`, `daily_counts`, `quarantine`)

A batch is committed in two steps: Parquet files are written under temporary
names and renamed, then one state-database transaction records the parts, the
rollups, the quarantined rejects and the WAL offset. A crash between the two
leaves files that the manifest does not list; ``open`` deletes them, and the
WAL is replayed from the last committed offset, so each record is stored once.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import re

from sqlalchemy import Engine, delete, func, insert, select, text, update

from garrison.model import CORE_COLUMNS, Event, Reject
from garrison.model.time import US_PER_DAY as _US_PER_DAY, day_of
from garrison.model.decision import Decision
from garrison.model.detection import Detection, attempt_blocked, attempt_category
from garrison.store import state as S
from garrison.store.records import audit, insert_decisions
from garrison.store.rollups import bump as _bump, count_arrivals as _count_arrivals, count_attempts as _count_attempts

_ARROW = {"ts": pa.timestamp("us", tz="UTC"), "str": pa.string(), "int": pa.int64()}
SCHEMA = pa.schema([pa.field(n, _ARROW[t]) for n, t in CORE_COLUMNS.items()] + [pa.field("extra", pa.string())])
_CORE = frozenset(CORE_COLUMNS)
_SAFE_DIR = re.compile(r"[A-Za-z0-9_.-]{1,64}")
QUARANTINE_RAW_BYTES = 64 * 1024  # of a rejected record's text; the whole text's SHA-256 and length are kept


@dataclass(frozen=True, slots=True)
class CommitResult:
    seq: int
    events: int
    rejects: int
    first_event_id: int


def _coerce(name: str, kind: str, values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, type=_ARROW[kind])
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        fixed: list[Any] = []
        for v in values:
            if v is None:
                fixed.append(None)
            elif kind == "str":
                fixed.append(v if isinstance(v, str) else orjson.dumps(v).decode())
            else:
                try:
                    fixed.append(int(v))
                except (TypeError, ValueError, OverflowError):
                    fixed.append(None)
        return pa.array(fixed, type=_ARROW[kind])


def to_table(events: Sequence[Event]) -> pa.Table:
    """One pass over each event's own keys (far fewer than the columns), filling typed columns and 'extra'."""
    n = len(events)
    cols: dict[str, list[Any]] = {name: [None] * n for name in CORE_COLUMNS}
    extras: list[str | None] = [None] * n
    dumps = orjson.dumps
    get = cols.get
    for i, e in enumerate(events):
        x: dict[str, Any] | None = None
        for k, v in e.items():
            col = get(k)
            if col is not None:
                col[i] = v
            elif x is None:
                x = {k: v}
            else:
                x[k] = v
        if x:
            extras[i] = dumps(x, default=str).decode()
    arrays = [_coerce(name, kind, cols[name]) for name, kind in CORE_COLUMNS.items()]
    arrays.append(pa.array(extras, type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def from_row(row: dict[str, Any]) -> Event:
    """A stored row back to an event dict (timestamps as epoch us)."""
    ev: Event = {}
    for k, v in row.items():
        if v is None or k == "extra":
            continue
        if isinstance(v, datetime):
            delta = v - datetime(1970, 1, 1, tzinfo=timezone.utc)
            v = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        ev[k] = v
    if row.get("extra"):
        ev.update(orjson.loads(row["extra"]))
    return ev


def detection_row(d: Detection) -> dict[str, Any]:
    """A detection as a row of the state DB; its events already carry their event.id (set by commit)."""
    ev = d.event
    return {"timestamp": d.timestamp or ev.get("@timestamp") or 0, "day": day_of(d.timestamp or ev.get("@timestamp") or 0),
            "organization_id": ev.get("organization.id") or "default", "rule_id": d.rule_id[:128],
            "rule_title": d.rule_title[:512], "level": d.level, "kind": d.kind, "tags": orjson.dumps(d.tags).decode(),
            "event_id": ev.get("event.id"),
            "evidence": orjson.dumps([e.get("event.id") for e in d.evidence]).decode() if d.evidence else None,
            "group_values": orjson.dumps(d.group, default=str).decode() if d.group else None,
            "source_ip": ev.get("source.ip"), "user_name": ev.get("user.name"), "host_name": ev.get("host.name"),
            "destination_ip": ev.get("destination.ip"), "decision_id": d.extra.get("decision_id"),
            "suppression_id": d.extra.get("suppression_id"),
            "category": attempt_category(d) if d.kind != "correlation" else None,
            "blocked": int(attempt_blocked(d))}


ORPHAN_AGE_S = 600


class EventStore:
    """Writes committed batches and lists the files a query must read."""

    def __init__(self, data_dir: str | Path, engine: Engine, compression_level: int = 9, write_level: int = 3,
                 quarantine_raw: int = QUARANTINE_RAW_BYTES, by_org: bool = False):
        self.root = Path(data_dir)
        self.by_org = by_org
        self.quarantine_raw = quarantine_raw
        self.engine = engine
        self.level = compression_level
        self.write_level = write_level
        (self.root / "events").mkdir(parents=True, exist_ok=True)
        self._remove_orphans()

    # -- recovery -------------------------------------------------------------
    def _remove_orphans(self) -> None:
        """Files no commit recorded: left by a crash between writing a part and recording it.

        Only files older than ``ORPHAN_AGE_S`` go: any process may open the store (``garrison search``
        while ``garrison serve`` runs), and a part written a moment ago may be about to be recorded by
        the writer. A younger leftover of a crash is never read (readers use the manifest) and is
        replaced when its commit is replayed."""
        cutoff = time.time() - ORPHAN_AGE_S
        with self.engine.connect() as c:
            known = {r[0] for r in c.execute(select(S.parts.c.path))}
        for p in (self.root / "events").rglob("*"):
            if p.is_file() and (p.suffix == ".tmp" or str(p.relative_to(self.root)) not in known):
                try:
                    if p.stat().st_mtime < cutoff:
                        p.unlink()
                except FileNotFoundError:
                    pass  # recorded and compacted away meanwhile

    def last_commit(self) -> tuple[int, int | None, int]:
        """(seq, wal_offset, next_event_id) of the newest commit."""
        with self.engine.connect() as c:
            return self._last(c)

    @staticmethod
    def _last(c: Any) -> tuple[int, int | None, int]:
        row = c.execute(select(S.commits).order_by(S.commits.c.seq.desc()).limit(1)).mappings().first()
        if row is None:
            return 0, None, 1
        off = c.execute(select(func.max(S.commits.c.wal_offset))).scalar()
        return row["seq"], off, row["next_event_id"]

    # -- writing ----------------------------------------------------------------
    def commit(self, events: list[Event], rejects: Sequence[Reject] = (), wal_offset: int | None = None,
               detections: Sequence[Detection] = (), decisions: Sequence[Decision] = (),
               in_commit: Sequence[Any] = (), suppressed: Sequence[Detection] = ()) -> CommitResult:
        """One transaction: the sequence number and event ids are taken, the parts written and recorded.

        On PostgreSQL several workers commit to one store: a transaction-scoped advisory lock orders their
        commits, so each takes the next sequence number and id range and its file names are its own."""
        now = int(time.time() * 1_000_000)
        written: list[dict[str, Any]] = []
        try:
            with self.engine.begin() as c:
                if c.dialect.name == "postgresql":
                    c.execute(text("SELECT pg_advisory_xact_lock(7420002)"))
                seq, _, next_id = self._last(c)
                seq += 1
                by_part: dict[tuple[str, str], list[Event]] = defaultdict(list)
                for i, e in enumerate(events):
                    e["event.id"] = next_id + i
                    e["event.ingested"] = now
                    ts = e.get("@timestamp")
                    if not isinstance(ts, int):
                        e["@timestamp"] = ts = now
                    by_part[(self._org_dir(e), day_of(ts))].append(e)
                for (org, day), evs in sorted(by_part.items()):
                    written.append(self._write_part(org, day, seq, len(written), evs))
                self._record(c, seq, now, events, rejects, written, wal_offset, next_id + len(events), detections,
                             decisions, in_commit, suppressed)
        except BaseException:
            for w in written:
                (self.root / w["path"]).unlink(missing_ok=True)
            raise
        return CommitResult(seq, len(events), len(rejects), next_id)

    def _org_dir(self, e: Event) -> str:
        """The organisation level of the layout, when the store is shared by organisations (``by_org``)."""
        if not self.by_org:
            return ""
        org = str(e.get("organization.id") or "default")
        return "org=" + (org if _SAFE_DIR.fullmatch(org) else hashlib.sha256(org.encode()).hexdigest()[:16]) + "/"

    def _write_part(self, org: str, day: str, seq: int, idx: int, evs: list[Event]) -> dict[str, Any]:
        evs.sort(key=lambda e: e["@timestamp"])
        table = to_table(evs)
        rel = f"events/{org}day={day}/p-{seq:012d}-{idx:03d}.parquet"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd", compression_level=self.write_level,
                       row_group_size=256_000, write_statistics=True)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return {"path": rel, "day": day, "seq": seq, "rows": len(evs), "bytes": path.stat().st_size,
                "min_ts": evs[0]["@timestamp"], "max_ts": evs[-1]["@timestamp"]}

    def _record(self, c: Any, seq: int, now: int, events: list[Event], rejects: Sequence[Reject],
                written: list[dict[str, Any]], wal_offset: int | None, next_id: int,
                detections: Sequence[Detection] = (), decisions: Sequence[Decision] = (),
                in_commit: Sequence[Any] = (), suppressed: Sequence[Detection] = ()) -> None:
        counts: Counter[tuple[str, str, str, str, str]] = Counter()
        health: dict[str, list[Any]] = {}
        for e in events:
            counts[(day_of(e["@timestamp"]), e.get("organization.id") or "default", e.get("input.type") or "unknown",
                    e.get("event.dataset") or "unknown", e.get("event.outcome") or "none")] += 1
            src = e.get("log.file.path") or e.get("input.type") or "unknown"
            h = health.setdefault(src, [e.get("input.type"), 0, 0])
            h[1] += 1
        for r in rejects:
            h = health.setdefault(r.source, [None, 0, 0])
            h[2] += 1
        c.execute(insert(S.commits).values(seq=seq, wal_offset=wal_offset, next_event_id=next_id,
                                           committed_at=now, events=len(events), rejects=len(rejects)))
        if written:
            c.execute(insert(S.parts), written)
        _bump(c, S.daily_counts, counts, ("day", "organization_id", "input_type", "dataset", "outcome"))
        _count_arrivals(c, health, now)
        for src, (inp, ne, nr) in health.items():
            res = c.execute(update(S.source_health).where(S.source_health.c.source == src).values(
                events=S.source_health.c.events + ne, rejects=S.source_health.c.rejects + nr,
                **({"last_event_at": now} if ne else {})))
            if res.rowcount == 0:
                c.execute(insert(S.source_health).values(source=src, input_type=inp, events=ne, rejects=nr,
                                                          last_event_at=now if ne else None))
        if decisions:
            for dec in decisions:
                ev = dec.extra.get("event")
                if isinstance(ev, dict):
                    dec.event_id = ev.get("event.id")
            insert_decisions(c, decisions)
            for dec in decisions:
                audit(c, dec.author or "policy", "decision.auto", f"{dec.scope}:{dec.value}",
                      {"id": dec.id, "until": dec.until, "reason": dec.reason, "simulated": dec.simulated})
        if detections:
            rows = [detection_row(d) for d in detections]  # category and outcome worked out once
            _count_attempts(c, detections, rows, now)
            ids = _insert_returning_ids(c, S.detections, rows)
            for d, i in zip(detections, ids):
                d.extra["id"] = i
        if suppressed:
            c.execute(insert(S.detections), [detection_row(d) for d in suppressed])
        for fn in in_commit:
            fn(c)
        if rejects:
            c.execute(insert(S.quarantine), [self._quarantine_row(r, now) for r in rejects])

    def _quarantine_row(self, r: Reject, now: int) -> dict[str, Any]:
        raw = r.raw if isinstance(r.raw, str) else str(r.raw)
        data = raw.encode("utf-8", "surrogatepass")
        kept = raw[: self.quarantine_raw]
        return dict(received_at=now, source=str(r.source)[:512], position=_i64(r.position), byte_offset=_i64(r.offset),
                    format=(r.format or None) and str(r.format)[:64], reason=str(r.reason)[:2000], raw=kept,
                    raw_bytes=len(data), raw_sha256=hashlib.sha256(data).hexdigest())

    # -- reading ---------------------------------------------------------------
    def files(self, since_us: int | None = None, until_us: int | None = None) -> list[str]:
        q = select(S.parts.c.path)
        if since_us is not None:
            q = q.where(S.parts.c.max_ts >= since_us)
        if until_us is not None:
            q = q.where(S.parts.c.min_ts < until_us)
        with self.engine.connect() as c:
            return [str(self.root / r[0]) for r in c.execute(q.order_by(S.parts.c.day, S.parts.c.seq))]

    def stats(self) -> dict[str, int]:
        with self.engine.connect() as c:
            row = c.execute(select(func.count(), func.coalesce(func.sum(S.parts.c.rows), 0),
                                   func.coalesce(func.sum(S.parts.c.bytes), 0))).one()
            q = c.execute(select(func.count()).select_from(S.quarantine)).scalar() or 0
        return {"parts": row[0], "events": int(row[1]), "bytes": int(row[2]), "quarantined": int(q)}

    # -- maintenance -------------------------------------------------------------
    def compact(self, min_parts: int = 2) -> int:
        """Merge each day's parts (each organisation's, in a shared store) into one file; returns how many
        groups were compacted. On PostgreSQL one node compacts at a time (the others skip the round)."""
        with self.engine.connect() as c:
            days = [r[0] for r in c.execute(select(S.parts.c.day).group_by(S.parts.c.day)
                                            .having(func.count() >= min_parts))]
        done = 0
        for day in days:
            with self.engine.connect() as c:
                rows = c.execute(select(S.parts).where(S.parts.c.day == day)).mappings().all()
            groups: dict[str, list[Any]] = defaultdict(list)
            for r in rows:
                groups[r["path"].rsplit("/", 1)[0]].append(r)
            for folder, group in groups.items():
                if len(group) >= min_parts and self._compact_group(folder, day, group):
                    done += 1
        return done

    def _compact_group(self, folder: str, day: str, rows: list[Any]) -> bool:
        with self.engine.begin() as c:
            if c.dialect.name == "postgresql" and not c.execute(text("SELECT pg_try_advisory_xact_lock(7420003)")).scalar():
                return False
            paths = [r["path"] for r in rows]
            if c.execute(select(func.count()).select_from(S.parts).where(S.parts.c.path.in_(paths))).scalar() != len(paths):
                return False  # another node compacted them meanwhile
            table = pa.concat_tables([pq.read_table(self.root / p, schema=SCHEMA) for p in paths])
            table = table.sort_by("@timestamp")
            seq = max(r["seq"] for r in rows)
            rel = f"{folder}/c-{seq:012d}.parquet"
            path = self.root / rel
            tmp = path.with_suffix(".tmp")
            pq.write_table(table, tmp, compression="zstd", compression_level=self.level, row_group_size=256_000)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
            c.execute(delete(S.parts).where(S.parts.c.path.in_(paths)))
            c.execute(insert(S.parts).values(path=rel, day=day, seq=seq, rows=table.num_rows, bytes=path.stat().st_size,
                                             min_ts=min(r["min_ts"] for r in rows), max_ts=max(r["max_ts"] for r in rows)))
        for p in paths:
            if p != rel:
                (self.root / p).unlink(missing_ok=True)
        return True

    def apply_retention(self, max_age_days: int, now_us: int | None = None) -> int:
        """Delete event files older than the cut-off; the daily rollups are kept. Returns files removed."""
        now_us = now_us or int(time.time() * 1_000_000)
        cutoff = day_of(now_us - max_age_days * _US_PER_DAY)
        with self.engine.begin() as c:
            old = [r[0] for r in c.execute(select(S.parts.c.path).where(S.parts.c.day < cutoff))]
            c.execute(delete(S.parts).where(S.parts.c.day < cutoff))
        for rel in old:
            p = self.root / rel
            p.unlink(missing_ok=True)
            try:
                p.parent.rmdir()
            except OSError:
                pass
        return len(old)


def _insert_returning_ids(c: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows and return their new ids in order. On PostgreSQL the ids come from the sequence first and
    the rows go in as one pipelined executemany: 3.5x faster than INSERT … RETURNING of 10,000 detections."""
    if c.dialect.name == "postgresql":
        ids = c.execute(text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                             "FROM generate_series(1, :n)"), {"n": len(rows)}).scalars().all()
        c.execute(insert(table), [{**r, "id": i} for r, i in zip(rows, ids)])
        return list(ids)
    return list(c.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all())


def _i64(v: Any) -> int | None:
    return v if isinstance(v, int) and -(2**63) <= v < 2**63 else None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
