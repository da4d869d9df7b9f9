"""Rebuilding the reports' event rollups from the stored Parquet with DuckDB or Spark: ``garrison store rollups``.

Commits keep ``daily_counts`` (events per day, organisation, input, dataset and outcome) as they store events;
reports read only it. After a restore, a migration from another system, or to check a store, the same counts
are computed again from the raw events, by the query engine at hand, and replace those of the days that
still have raw events (days past retention keep theirs). The attempt rollups are computed from the
detections in the state database and are not touched here.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sqlalchemy import Engine, delete, insert

from garrison.store import state as S
from garrison.store.events import SCHEMA, EventStore

# The commit's own rules (store/events.py _record): a missing or empty value counts under its default.
GROUPS = (("organization.id", "default"), ("input.type", "unknown"), ("event.dataset", "unknown"),
          ("event.outcome", "none"))
Row = tuple[str, str, str, str, str, int]


def duckdb_counts(store: EventStore) -> list[Row]:
    import duckdb

    files = store.files()
    if not files:
        return []
    cols = ", ".join(f"coalesce(nullif(\"{c}\", ''), '{d}')" for c, d in GROUPS)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET VARIABLE garrison_files = ?", [files])
        rel = "read_parquet(getvariable('garrison_files'), union_by_name = true, hive_partitioning = false)"
        q = f"SELECT strftime(\"@timestamp\", '%Y-%m-%d') AS day, {cols}, count(*) FROM {rel} GROUP BY ALL"
        return [tuple(r) for r in con.execute(q).fetchall()]  # type: ignore[misc]
    finally:
        con.close()


def spark_counts(store: EventStore, master: str = "local[2]") -> list[Row]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    files = store.files()
    if not files:
        return []
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(master).appName("garrison-rollups")
             .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false").getOrCreate())
    try:
        df = spark.read.option("mergeSchema", "true").parquet(*files)
        df = df.drop(*[c for c in df.columns if c not in SCHEMA.names])
        keys = [F.date_format(F.col("`@timestamp`"), "yyyy-MM-dd").alias("day")] + [
            F.coalesce(F.when(F.col(f"`{c}`") != "", F.col(f"`{c}`")), F.lit(d)).alias(f"g{i}")
            for i, (c, d) in enumerate(GROUPS)]
        rows = df.groupBy(*keys).count().collect()
        return [(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in rows]
    finally:
        spark.stop()


def replace_counts(engine: Engine, rows: list[Row]) -> dict[str, Any]:
    """Replace the days' ``daily_counts`` with ``rows`` in one transaction; what changed."""
    days = sorted({r[0] for r in rows})
    with engine.begin() as c:
        old = {tuple(r[:5]): int(r[5]) for r in c.execute(
            S.daily_counts.select().where(S.daily_counts.c.day.in_(days)))} if days else {}
        new = {tuple(r[:5]): int(r[5]) for r in rows}
        for i in range(0, len(days), 500):
            c.execute(delete(S.daily_counts).where(S.daily_counts.c.day.in_(days[i:i + 500])))
        if rows:
            c.execute(insert(S.daily_counts), [{"day": k[0], "organization_id": k[1], "input_type": k[2],
                                                "dataset": k[3], "outcome": k[4], "n": n} for k, n in new.items()])
    changed = sum(1 for k in set(old) | set(new) if old.get(k) != new.get(k))
    return {"days": len(days), "rows": len(new), "changed": changed, "events": sum(new.values())}
