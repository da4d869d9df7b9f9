"""``garrison report``: the committee's report for any period, as HTML, PDF or Markdown."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from garrison.cli._context import Context, console, out, pass_ctx


@click.command("report")
@click.option("--period", default="30d", show_default=True, help="12m, 30d, 2026-Q3, 2026-11 or FROM..TO (dates).")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf", "md"]), help="Default: from --out's suffix, else html.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="File to write (default: print HTML/Markdown).")
@click.option("--no-archive", is_flag=True, help="Don't keep a copy in the report archive.")
@pass_ctx
def report_cmd(ctx: Context, period: str, fmt: str | None, out_path: str | None, no_archive: bool) -> None:
    """Attempts, serious incidents and breaches over a period, in plain English with charts."""
    from garrison.report import archive, generate, parse_period, write

    p = parse_period(period)
    fmt = fmt or (Path(out_path).suffix.lstrip(".") if out_path and Path(out_path).suffix[1:] in ("html", "pdf", "md")
                  else "html")
    t0 = time.perf_counter()
    rep = generate(ctx.engine, p, ctx.config.report.organization_name, fmt, ctx.config.report.logo,
                   stem=Path(out_path).stem if out_path else "report")
    took = time.perf_counter() - t0
    if out_path:
        write(rep, Path(out_path))
        console.print(f"[green]wrote[/] {out_path} ({len(rep.content):,} bytes, {p.start} to {p.end}) in {took:.2f}s")
    elif fmt == "pdf":
        raise click.UsageError("a PDF needs --out FILE")
    else:
        click.echo(rep.content.decode())
    if not no_archive:
        rid = archive(ctx.engine, ctx.config.data_path, p, rep, "cli")
        console.print(f"archived as report #{rid} (garrison reports)")


@click.command("reports")
@pass_ctx
def reports_cmd(ctx: Context) -> None:
    """The archive of generated reports."""
    from garrison.report import list_archive

    t = Table(title="report archive")
    for c in ("id", "generated", "period", "format", "by", "file"):
        t.add_column(c)
    for r in list_archive(ctx.engine):
        t.add_row(str(r["id"]), time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["created_at"] / 1e6)),
                  f"{r['period_start']}..{r['period_end']}", r["format"], r["author"], r["path"])
    out.print(t)


COMMANDS = [report_cmd, reports_cmd]
