"""``garrison quarantine``: inspect rejected input."""

from __future__ import annotations

import click
from rich.table import Table
from sqlalchemy import func, select

from garrison.cli._context import Context, fitted, json_line, out, pass_ctx
from garrison.model import iso_from_us
from garrison.store import state as S


@click.group("quarantine")
def quarantine() -> None:
    """Records that no parser accepted, with their source, position and reason."""


@quarantine.command("list")
@click.option("--source", help="Only records from sources containing this text.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_cmd(ctx: Context, source: str | None, limit: int, as_json: bool) -> None:
    """List quarantined records, newest first."""
    q = select(S.quarantine).order_by(S.quarantine.c.id.desc()).limit(limit)
    if source:
        q = q.where(S.quarantine.c.source.contains(source))
    with ctx.engine.connect() as c:
        rows = c.execute(q).mappings().all()
        total = c.execute(select(func.count()).select_from(S.quarantine)).scalar()
    if as_json:
        for r in rows:
            json_line({**dict(r), "received_at": iso_from_us(r["received_at"])})
        return
    cells = [[str(r["id"]), str(r["position"] or ""), r["source"], r["reason"], r["raw"][:200]] for r in rows]
    out.print(fitted(f"{total:,} quarantined record(s)", ["id", "line", "source", "reason", "raw"], cells,
                     text=("source", "reason", "raw")))


@quarantine.command("count")
@pass_ctx
def count_cmd(ctx: Context) -> None:
    """Quarantined records per source."""
    with ctx.engine.connect() as c:
        rows = c.execute(select(S.quarantine.c.source, func.count()).group_by(S.quarantine.c.source)).all()
    t = Table(title="quarantine by source")
    t.add_column("source")
    t.add_column("records", justify="right")
    for src, n in rows:
        t.add_row(src, f"{n:,}")
    out.print(t)


COMMANDS = [quarantine]
