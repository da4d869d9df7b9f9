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


COMMANDS = [store]
