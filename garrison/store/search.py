"""Run searches over the event store with DuckDB, reading only the files the manifest lists for the time range."""

from __future__ import annotations

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


def _relation(con: duckdb.DuckDBPyConnection, files: list[str]) -> str:
    con.execute("SET VARIABLE garrison_files = ?", [files])
    return "read_parquet(getvariable('garrison_files'), union_by_name = true)"


def search(store: EventStore, query: str, since_us: int | None = None, until_us: int | None = None,
           limit: int | None = 100, count_only: bool = False) -> SearchResult:
    where, params = compile_query(query)
    files = store.files(since_us, until_us)
    if not files:
        return SearchResult(0, [])
    clauses = [where]
    tparams: list[Any] = []
    if since_us is not None:
        clauses.append('epoch_us("@timestamp") >= ?')
        tparams.append(since_us)
    if until_us is not None:
        clauses.append('epoch_us("@timestamp") < ?')
        tparams.append(until_us)
    cond = " AND ".join(clauses)
    con = duckdb.connect()
    try:
        rel = _relation(con, files)
        count = con.execute(f"SELECT count(*) FROM {rel} WHERE {cond}", params + tparams).fetchone()[0]  # type: ignore[index]
        if count_only:
            return SearchResult(int(count), [])
        sql = f'SELECT * FROM {rel} WHERE {cond} ORDER BY "@timestamp" DESC'
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cur = con.execute(sql, params + tparams)
        names = [d[0] for d in cur.description]
        events = [from_row(dict(zip(names, row))) for row in cur.fetchall()]
        return SearchResult(int(count), events)
    finally:
        con.close()


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
        cur = con.execute(f'SELECT * FROM {rel} WHERE "event.id" IN (SELECT unnest(?))', [[int(i) for i in ids]])
        names = [d[0] for d in cur.description]
        out = {}
        for row in cur.fetchall():
            ev = from_row(dict(zip(names, row)))
            out[int(ev["event.id"])] = ev
        return out
    finally:
        con.close()
