"""``garrison detections``: what the rules found."""

from __future__ import annotations

import time

import click
from rich.table import Table
from sqlalchemy import func, select

from garrison.cli._context import Context, fitted, json_line, out, pass_ctx
from garrison.errors import QueryError
from garrison.model import iso_from_us
from garrison.store import state as S
from garrison.store.query import parse_time_bound


@click.group("detections")
def detections() -> None:
    """Detections raised by Sigma rules and Garrison's detectors."""


@detections.command("list")
@click.option("--since", default="24h", show_default=True)
@click.option("--level", help="Only this level.")
@click.option("--rule", help="Only rules whose title contains this text.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_cmd(ctx: Context, since: str, level: str | None, rule: str | None, limit: int, as_json: bool) -> None:
    try:
        start = parse_time_bound(since, int(time.time() * 1_000_000)) if since != "all" else 0
    except QueryError as e:
        raise click.ClickException(str(e)) from e
    q = select(S.detections).where(S.detections.c.timestamp >= start)
    if level:
        q = q.where(S.detections.c.level == level)
    if rule:
        q = q.where(S.detections.c.rule_title.contains(rule))
    with ctx.engine.connect() as c:
        rows = c.execute(q.order_by(S.detections.c.timestamp.desc()).limit(limit)).mappings().all()
        total = c.execute(select(func.count()).select_from(q.subquery())).scalar()
    if as_json:
        for r in rows:
            json_line(dict(r))
        return
    cells = [[iso_from_us(r["timestamp"])[:19], r["level"], r["source_ip"] or "", r["user_name"] or "",
              r["host_name"] or "", str(r["event_id"] or ""), r["rule_title"]] for r in rows]
    out.print(fitted(f"{total:,} detections since {since}", ["time", "level", "source.ip", "user", "host", "event", "rule"],
                     cells, text=("rule",)))


@detections.command("summary")
@click.option("--since", default="24h", show_default=True)
@pass_ctx
def summary(ctx: Context, since: str) -> None:
    """Detections per rule and level."""
    start = parse_time_bound(since, int(time.time() * 1_000_000)) if since != "all" else 0
    with ctx.engine.connect() as c:
        rows = c.execute(select(S.detections.c.level, S.detections.c.rule_title, func.count())
                         .where(S.detections.c.timestamp >= start)
                         .group_by(S.detections.c.level, S.detections.c.rule_title).order_by(func.count().desc())).all()
    t = Table(title=f"detections since {since}")
    for col in ("level", "rule", "hits"):
        t.add_column(col)
    for level, title, n in rows:
        t.add_row(level, title, f"{n:,}")
    out.print(t)


COMMANDS = [detections]
