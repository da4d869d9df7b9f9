"""Run searches over the event store with DuckDB, reading only the files the manifest lists for the time range."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from garrison.model import Event
from garrison.store.events import EventStore, from_row
from garrison.store.query import compile_query


@dataclass
class SearchResult:
    count: int
    events: list[Event]


def span_sql(since_us: int | None, until_us: int | None) -> tuple[str, list[Any]]:
    """A DuckDB condition on "@timestamp" for [since, until), with its parameters (TRUE when unbounded)."""
    parts, params = ["TRUE"], []
    if since_us is not None:
        parts.append('epoch_us("@timestamp") >= ?')
        params.append(since_us)
    if until_us is not None:
        parts.append('epoch_us("@timestamp") < ?')
        params.append(until_us)
    return " AND ".join(parts), params


def _relation(con: duckdb.DuckDBPyConnection, files: list[str]) -> str:
    con.execute("SET VARIABLE garrison_files = ?", [files])
    return "read_parquet(getvariable('garrison_files'), union_by_name = true)"


def search(store: EventStore, query: str, since_us: int | None = None, until_us: int | None = None,
           limit: int | None = 100, count_only: bool = False, known_count: int | None = None) -> SearchResult:
    """Matching events, newest first, and how many there are (``known_count`` skips counting them again;
    -1 means the caller counts them some other way)."""
    where, params = compile_query(query)
    files = store.files(since_us, until_us)
    if not files:
        return SearchResult(0, [])
    span, tparams = span_sql(since_us, until_us)
    cond = f"{where} AND {span}"
    con = duckdb.connect()
    try:
        rel = _relation(con, files)
        count = known_count if known_count is not None else \
            con.execute(f"SELECT count(*) FROM {rel} WHERE {cond}", params + tparams).fetchone()[0]  # type: ignore[index]
        if count_only or count == 0:
            return SearchResult(int(count), [])
        if limit is None:
            cur = con.execute(f'SELECT * FROM {rel} WHERE {cond} ORDER BY "@timestamp" DESC', params + tparams)
            names = [d[0] for d in cur.description]
            return SearchResult(int(count), [from_row(dict(zip(names, row))) for row in cur.fetchall()])
        # Newest first in two steps: the ids and times of the top hits (two narrow columns), then their
        # whole rows from the files of just that time span. A top-N over every column of a month's
        # matches reads each of them whole; this reads 100.
        top = con.execute(f'SELECT "event.id", epoch_us("@timestamp") FROM {rel} WHERE {cond} '
                          f'ORDER BY "@timestamp" DESC LIMIT {int(limit)}', params + tparams).fetchall()
    finally:
        con.close()
    if not top:
        return SearchResult(int(count), [])
    found = events_by_id(store, [int(i) for i, _ in top], min(t for _, t in top), max(t for _, t in top) + 1)
    return SearchResult(int(count), [found[int(i)] for i, _ in top if int(i) in found])


def histogram(store: EventStore, query: str, since_us: int, until_us: int, buckets: int = 60) -> list[tuple[int, int]]:
    """Hits per time bucket: [(bucket start epoch us, count)]."""
    where, params = compile_query(query)
    files = store.files(since_us, until_us)
    if not files:
        return []
    width = max(1, (until_us - since_us) // buckets)
    con = duckdb.connect()
    try:
        rel = _relation(con, files)
        rows = con.execute(
            f'SELECT (epoch_us("@timestamp") - ?) // ? AS b, count(*) FROM {rel} '
            f'WHERE {where} AND epoch_us("@timestamp") >= ? AND epoch_us("@timestamp") < ? GROUP BY b ORDER BY b',
            [since_us, width] + params + [since_us, until_us]).fetchall()
        return [(since_us + int(b) * width, int(n)) for b, n in rows]
    finally:
        con.close()


def events_by_id(store: EventStore, ids: list[int], since_us: int | None = None,
                 until_us: int | None = None) -> dict[int, Event]:
    """The stored events with these event.ids, reading only the files of the time range given."""
    if not ids:
        return {}
    files = store.files(since_us, until_us)
    if not files:
        return {}
    con = duckdb.connect()
    try:
        rel = _relation(con, files)
        span = ""
        args: list[Any] = [[int(i) for i in ids]]
        if since_us is not None and until_us is not None:  # lets the reader skip row groups by their time stats
            span = ' AND epoch_us("@timestamp") >= ? AND epoch_us("@timestamp") < ?'
            args += [since_us, until_us]
        cur = con.execute(f'SELECT * FROM {rel} WHERE "event.id" IN (SELECT unnest(?)){span}', args)
        names = [d[0] for d in cur.description]
        out = {}
        for row in cur.fetchall():
            ev = from_row(dict(zip(names, row)))
            out[int(ev["event.id"])] = ev
        return out
    finally:
        con.close()


def iter_events(store: EventStore, since_us: int, until_us: int, batch: int = 5000) -> Iterator[Event]:
    """Every stored event of a time span, oldest first, read a batch at a time (memory stays bounded)."""
    files = store.files(since_us, until_us)
    if not files:
        return
    con = duckdb.connect()
    try:
        rel = _relation(con, files)
        cur = con.execute(f'SELECT * FROM {rel} WHERE epoch_us("@timestamp") >= ? AND epoch_us("@timestamp") < ? '
                          'ORDER BY "@timestamp"', [since_us, until_us])
        names = [d[0] for d in cur.description]
        while rows := cur.fetchmany(batch):
            for row in rows:
                yield from_row(dict(zip(names, row)))
    finally:
        con.close()


def partition_tail(store: EventStore, partitions: list[int], window_us: int) -> list[Event]:
    """A scaled-out store's recent events of some bus partitions, in the order they were stored: those within
    ``window_us`` of event time before the newest of them. A worker replays them to rebuild its state."""
    files = store.files()
    if not files or not partitions:
        return []
    con = duckdb.connect()
    try:
        rel = _relation(con, files)
        part = "TRY_CAST(json_extract_string(extra, '$.\"garrison.partition\"') AS INTEGER)"
        cur = con.execute(f"WITH tail AS (SELECT * FROM {rel} WHERE {part} IN (SELECT unnest(?))) "
                          'SELECT * FROM tail WHERE epoch_us("@timestamp") >= '
                          '(SELECT max(epoch_us("@timestamp")) FROM tail) - ? ORDER BY "event.id"',
                          [partitions, window_us])
        names = [d[0] for d in cur.description]
        return [from_row(dict(zip(names, row))) for row in cur.fetchall()]
    finally:
        con.close()
