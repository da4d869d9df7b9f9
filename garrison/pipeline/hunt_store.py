"""Hunting the event store with Sigma rules: ``garrison hunt --engine duckdb|spark --since 365d``.

Two steps, the second shared by both engines so that they give the same detections:

1. The query engine narrows the stored rows to the events some rule can match, and evaluates the rules on
   them: the rules' literal prefilters compiled to a WHERE clause (DuckDB SQL, or Spark SQL expressions),
   then Garrison's own Sigma engine on the surviving rows. With Spark that evaluation runs in the
   executors' Python workers (``mapInArrow``), so it spreads over a cluster as the scan does.
2. The few events that matched are brought back, ordered by time (and id), and run through the same engine
   once more, which now also feeds the correlations in time order: detections, correlations included,
   exactly as the live pipeline would make them.

Fields: a prefilter names an event key; a key stored as its own column is read from it, any other from the
``extra`` JSON text (a literal there is searched for as JSON writes it). Case is ignored, as in Sigma.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from garrison.detect.sigma.engine import SigmaEngine
from garrison.model import CORE_COLUMNS, Event
from garrison.model.detection import Detection
from garrison.store.events import SCHEMA, EventStore, from_row
from garrison.store.search import span_sql

# (stored column or None for the extra JSON, lower-case literal as stored there)
Term = tuple[str | None, str]


@dataclass
class StoreHunt:
    engine: str
    rows_scanned: int = 0
    candidates: int = 0
    matched_events: int = 0
    detections: list[Detection] = field(default_factory=list)
    seconds: float = 0.0
    files: int = 0


def prefilter_terms(engine: SigmaEngine) -> list[list[list[Term]]] | None:
    """Every rule's prefilter as (column, literal) terms: OR over rules of AND over clauses of OR over terms.
    None when a rule has none (then every row is a candidate)."""
    out: list[list[list[Term]]] = []
    seen: set[str] = set()
    for pre in engine.prefilters():
        if pre is None:
            return None
        rule: list[list[Term]] = []
        for clause in pre:
            rule.append([_term(key, lit) for key, lit in clause])
        sig = repr(rule)
        if sig not in seen:
            seen.add(sig)
            out.append(rule)
    return out


def _term(key: str, lit: str) -> Term:
    if key in CORE_COLUMNS:
        return key, lit
    return None, orjson.dumps(lit).decode()[1:-1].lower()  # as the literal appears inside the JSON text


# -- step 1: DuckDB ------------------------------------------------------------------------------------
def duckdb_where(terms: list[list[list[Term]]] | None) -> tuple[str, list[str]]:
    """The WHERE clause and its parameters (every literal is a parameter: no rule text reaches the SQL)."""
    if terms is None:
        return "TRUE", []
    params: list[str] = []

    def term(t: Term) -> str:
        params.append(t[1])
        col = f'"{t[0]}"' if t[0] is not None else "extra"
        return f"instr(lower(CAST({col} AS VARCHAR)), ?) > 0"

    rules = ["(" + " AND ".join("(" + " OR ".join(term(t) for t in clause) + ")" for clause in rule) + ")"
             for rule in terms]
    return (" OR ".join(rules) or "FALSE"), params


def duckdb_matches(store: EventStore, engine: SigmaEngine, since_us: int | None, until_us: int | None,
                   hunt: StoreHunt) -> list[Event]:
    import duckdb

    files = store.files(since_us, until_us)
    hunt.files = len(files)
    if not files:
        return []
    where, params = duckdb_where(prefilter_terms(engine))
    span, span_params = span_sql(since_us, until_us)
    con = duckdb.connect()
    try:
        con.execute("SET VARIABLE garrison_files = ?", [files])
        rel = "read_parquet(getvariable('garrison_files'), union_by_name = true, hive_partitioning = false)"
        hunt.rows_scanned = int((con.execute(f"SELECT count(*) FROM {rel} WHERE {span}", span_params).fetchone() or (0,))[0])
        cur = con.execute(f"SELECT * FROM {rel} WHERE {span} AND ({where})", span_params + params)
        names = [d[0] for d in cur.description]
        out: list[Event] = []
        while rows := cur.fetchmany(10_000):
            evs = [from_row(dict(zip(names, r))) for r in rows]
            hunt.candidates += len(evs)
            out += [ev for ev in evs if _matches_a_rule(engine, ev)]
        return out
    finally:
        con.close()


def _matches_a_rule(engine: SigmaEngine, ev: Event) -> bool:
    """Does any base rule match (correlations are not fed here: the second step does that in order)."""
    return bool(engine.base_matches(ev))


# -- step 1: Spark --------------------------------------------------------------------------------------
def spark_where(terms: list[list[list[Term]]] | None) -> Any:
    """The same filter as Spark SQL column expressions (literals are values, never SQL text)."""
    from pyspark.sql import functions as F

    if terms is None:
        return F.lit(True)

    def term(t: Term) -> Any:
        col = F.col(f"`{t[0]}`") if t[0] is not None else F.col("extra")
        return F.instr(F.lower(col.cast("string")), t[1]) > 0

    def any_of(xs: list[Any]) -> Any:
        out = xs[0]
        for x in xs[1:]:
            out = out | x
        return out

    def all_of(xs: list[Any]) -> Any:
        out = xs[0]
        for x in xs[1:]:
            out = out & x
        return out

    return any_of([all_of([any_of([term(t) for t in clause]) for clause in rule]) for rule in terms]) \
        if terms else F.lit(False)


def spark_matches(store: EventStore, make_engine: Callable[[], SigmaEngine], since_us: int | None,
                  until_us: int | None, hunt: StoreHunt, master: str = "local[2]") -> list[Event]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    files = store.files(since_us, until_us)
    hunt.files = len(files)
    if not files:
        return []
    engine = make_engine()
    # the executors' Python must hold Garrison: this one, unless the cluster says otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(master).appName("garrison-hunt")
             .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    try:
        df = spark.read.option("mergeSchema", "true").parquet(*files)
        df = df.drop(*[c for c in df.columns if c not in SCHEMA.names])  # Spark adds day (org) from the paths
        ts = F.col("`@timestamp`")
        if since_us is not None:
            df = df.where(ts >= F.timestamp_micros(F.lit(since_us)))
        if until_us is not None:
            df = df.where(ts < F.timestamp_micros(F.lit(until_us)))
        hunt.rows_scanned = df.count()
        cand = df.where(spark_where(prefilter_terms(engine)))
        names = cand.columns  # dotted (source.ip): plain aliases through the Python workers, which can't take dots
        stamps = {f.name for f in cand.schema.fields if f.dataType.typeName().startswith("timestamp")}
        cand = cand.select([(F.unix_micros(F.col(f"`{c}`")) if c in stamps else F.col(f"`{c}`")).alias(f"c{i}")
                            for i, c in enumerate(names)])  # times as epoch us: no time zone on the way

        def evaluate(batches: Iterable[Any]) -> Iterator[Any]:
            import pyarrow as pa

            local = make_engine()  # in the executor's Python worker
            for b in batches:
                rows = b.to_pylist()
                keep = [i for i, r in enumerate(rows)
                        if _matches_a_rule(local, from_row({names[int(k[1:])]: v for k, v in r.items()}))]
                yield b.take(pa.array(keep, type=pa.int64()))

        rows = cand.mapInArrow(evaluate, cand.schema).collect()
        matched = [from_row({names[int(k[1:])]: v for k, v in r.asDict().items()}) for r in rows]
        hunt.candidates = -1  # Spark does not count them apart from the scan
        return matched
    finally:
        spark.stop()


# -- step 2, shared -------------------------------------------------------------------------------------
def detections_in_order(engine: SigmaEngine, events: list[Event]) -> list[Detection]:
    """The matched events in time order through the whole engine: base rules and correlations."""
    events.sort(key=lambda e: (e.get("@timestamp") or 0, e.get("event.id") or 0))
    out: list[Detection] = []
    for ev in events:
        out += engine.match(ev, ev.get("@timestamp") or 0)
    out += engine.flush()
    return out


def hunt_store(store: EventStore, make_engine: Callable[[], SigmaEngine], engine_name: str,
               since_us: int | None = None, until_us: int | None = None, master: str = "local[2]") -> StoreHunt:
    t0 = time.perf_counter()
    hunt = StoreHunt(engine_name)
    if engine_name == "spark":
        matched = spark_matches(store, make_engine, since_us, until_us, hunt, master)
    else:
        matched = duckdb_matches(store, make_engine(), since_us, until_us, hunt)
    hunt.matched_events = len(matched)
    hunt.detections = detections_in_order(make_engine(), matched)
    hunt.seconds = time.perf_counter() - t0
    return hunt
