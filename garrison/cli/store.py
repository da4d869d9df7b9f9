"""``garrison store``: size, compaction and retention of the event store."""

from __future__ import annotations

import click
from rich.table import Table
from sqlalchemy import select

from garrison.cli._context import Context, out, pass_ctx
from garrison.model import iso_from_us
from garrison.store import state as S


@click.group("store")
def store() -> None:
    """Inspect and maintain the event store (serve does this hourly)."""


@store.command("stats")
@pass_ctx
def stats(ctx: Context) -> None:
    """Events, files, bytes, and per-source health."""
    st = ctx.store.stats()
    out.print(f"{st['events']:,} events in {st['parts']:,} files, {st['bytes']:,} bytes "
              f"({st['bytes'] / max(st['events'], 1):.1f} per event); {st['quarantined']:,} quarantined")
    t = Table(title="sources")
    for c in ("source", "input", "events", "rejects", "last event stored"):
        t.add_column(c)
    with ctx.engine.connect() as c:
        for r in c.execute(select(S.source_health).order_by(S.source_health.c.last_event_at.desc())).mappings():
            t.add_row(r["source"], r["input_type"] or "", f"{r['events']:,}", f"{r['rejects']:,}",
                      iso_from_us(r["last_event_at"]) if r["last_event_at"] else "")
    out.print(t)


@store.command("compact")
@pass_ctx
def compact(ctx: Context) -> None:
    """Merge each day's files into one, recompressed."""
    out.print(f"compacted {ctx.store.compact()} day(s)")


@store.command("retention")
@click.option("--days", type=int, default=None, help="Keep this many days (default: store.retention_days).")
@pass_ctx
def retention(ctx: Context, days: int | None) -> None:
    """Delete raw events older than the retention period; daily counts are kept."""
    n = ctx.store.apply_retention(days if days is not None else ctx.config.store.retention_days)
    out.print(f"removed {n} file(s)")


@store.command("rollups")
@click.option("--engine", "query_engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True)
@click.option("--spark-master", default="local[2]", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="What was rebuilt, as JSON.")
@pass_ctx
def rollups(ctx: Context, query_engine: str, spark_master: str, as_json: bool) -> None:
    """Rebuild the reports' daily event counts from the stored events (days past retention keep theirs)."""
    from garrison.cli._context import console, json_line
    from garrison.pipeline.rebuild import duckdb_counts, replace_counts, spark_counts

    with console.status(f"counting stored events with {query_engine}"):
        rows = spark_counts(ctx.store, spark_master) if query_engine == "spark" else duckdb_counts(ctx.store)
        res = replace_counts(ctx.engine, rows)
    if as_json:
        json_line({"engine": query_engine, **res})
        return
    out.print(f"{res['events']:,} events over {res['days']:,} days counted by {query_engine}: {res['rows']:,} rollup "
              f"rows, {res['changed']:,} of them different from what was kept")


COMMANDS = [store]
