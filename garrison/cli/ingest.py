"""``garrison import``: files, folders, .gz, .zip and EVTX into the store."""

from __future__ import annotations

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from garrison.cli._context import Context, console, out, pass_ctx
from garrison.parse import FORMATS
from garrison.pipeline import build_pipeline
from garrison.pipeline.runner import build_live_pipeline, import_paths
from garrison.sources.files import expand, total_bytes


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Skip detection and use this parser.")
@click.option("--batch", default=50_000, show_default=True, help="Records per commit.")
@click.option("--no-detect", is_flag=True, help="Store only; don't run the detection rules.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_ctx
def import_cmd(ctx: Context, paths: tuple[str, ...], fmt: str | None, batch: int, no_detect: bool,
               as_json: bool) -> None:
    """Import log files into the event store.

    Takes files, folders (recursively), .gz and .zip archives and .evtx files.
    The format is detected per file; lines no parser accepts go to the quarantine.
    """
    pipeline = build_pipeline(ctx.config) if no_detect else build_live_pipeline(ctx.config, ctx.engine)
    files = expand(paths)
    size = total_bytes(files)
    with Progress(TextColumn("[bold]import"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TransferSpeedColumn(), TextColumn("{task.fields[events]:,} events, {task.fields[rate]:,.0f}/s"),
                  TimeRemainingColumn(), console=console, transient=False, disable=as_json) as bar:
        task = bar.add_task("import", total=size or None, events=0, rate=0.0)
        start = bar.get_time()

        def progress(nbytes: int, nevents: int) -> None:
            t = bar.tasks[0]
            n = t.fields["events"] + nevents
            bar.update(task, advance=nbytes, events=n, rate=n / max(1e-6, bar.get_time() - start))

        result = import_paths(pipeline, ctx.store, files, fmt=fmt, batch_size=batch, progress=progress)
    c = pipeline.counters
    if as_json:
        out.print_json(data={"files": result.files, "events": result.events, "rejected": c.rejected,
                             "seconds": round(result.seconds, 3), "detections": c.detections,
                             "by_dataset": dict(c.by_dataset.most_common()),
                             "reject_reasons": dict(c.reject_reasons.most_common()),
                             "parser_failures": dict(c.crashes), "stage_failures": dict(pipeline.failures.batches)})
        return
    out.print(f"Stored [bold]{result.events:,}[/] events from {result.files} file(s) in {result.seconds:.1f}s "
              f"({result.events / max(result.seconds, 1e-9):,.0f} events/s)")
    table = Table()
    table.add_column("dataset")
    table.add_column("events", justify="right")
    for ds, n in c.by_dataset.most_common():
        table.add_row(ds, f"{n:,}")
    out.print(table)
    if c.rejected:
        out.print(f"Rejected {c.rejected:,} record(s) to the quarantine (see: garrison quarantine list)")
        rt = Table()
        rt.add_column("reason")
        rt.add_column("records", justify="right")
        for reason, n in c.reject_reasons.most_common():
            rt.add_row(reason, f"{n:,}")
        out.print(rt)
    if c.detections:
        out.print(f"[bold]{c.detections:,} detection(s)[/] stored (see: garrison detections)")
    for w, n in c.warnings.items():
        out.print(f"[yellow]warning[/]: {n:,} record(s) with {w.replace('_', ' ')} were kept with the bytes escaped")


COMMANDS = [import_cmd]
