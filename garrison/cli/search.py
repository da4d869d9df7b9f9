"""``garrison search``: the analyst's query language over the event store."""

from __future__ import annotations

import csv
import sys
import time

import click
from rich.table import Table

from garrison.cli._context import Context, json_line, out, pass_ctx
from garrison.errors import QueryError
from garrison.model import iso_from_us
from garrison.store.query import parse_time_bound
from garrison.store.search import search


def _row(ev: dict) -> dict:
    ev = dict(ev)
    for k in ("@timestamp", "event.ingested"):
        if isinstance(ev.get(k), int):
            ev[k] = iso_from_us(ev[k])
    return ev


@click.command("search")
@click.argument("query", nargs=-1)
@click.option("--since", default="24h", show_default=True, help="Start: 24h, 7d, 12mo, or an ISO time; 'all' for no limit.")
@click.option("--until", default=None, help="End: an ISO time or duration before now (default now).")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV of the main fields.")
@click.option("--count", "count_only", is_flag=True, help="Print only the number of matching events.")
@pass_ctx
def search_cmd(ctx: Context, query: tuple[str, ...], since: str, until: str | None, limit: int,
               as_json: bool, as_csv: bool, count_only: bool) -> None:
    """Search stored events, e.g. garrison search 'event.dataset:sshd AND event.outcome:failure' --since 7d"""
    q = " ".join(query)
    now = int(time.time() * 1_000_000)
    try:
        since_us = None if since == "all" else parse_time_bound(since, now)
        until_us = parse_time_bound(until, now) if until else None
        res = search(ctx.store, q, since_us, until_us, limit=limit, count_only=count_only)
    except QueryError as e:
        raise click.ClickException(f"bad query: {e}") from e
    if count_only:
        out.print(res.count)
        return
    if as_json:
        for ev in res.events:
            json_line(_row(ev))
        return
    cols = ["@timestamp", "event.dataset", "event.action", "event.outcome", "source.ip", "user.name", "host.name", "message"]
    if as_csv:
        w = csv.writer(sys.stdout)
        w.writerow(cols + ["event.original"])
        for ev in res.events:
            r = _row(ev)
            w.writerow([r.get(c, "") for c in cols] + [r.get("event.original", "")])
        return
    table = Table(title=f"{res.count:,} matching events (showing {len(res.events)})")
    for c in cols[:-1] + ["event.original"]:
        table.add_column(c, overflow="fold", max_width=60 if c == "event.original" else 24)
    for ev in res.events:
        r = _row(ev)
        table.add_row(*[str(r.get(c, "")) for c in cols[:-1]] + [str(r.get("event.original", ""))[:200]])
    out.print(table)


COMMANDS = [search_cmd]
