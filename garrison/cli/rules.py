"""``garrison rules`` and ``garrison hunt``: manage Sigma rules, and hunt through logs with them."""

from __future__ import annotations

import csv
import sys
from collections import Counter

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from garrison.cli._context import Context, console, json_line, out, pass_ctx
from garrison.pipeline.hunt import Hunter, HuntStats
from garrison.detect.sigma.load import load_rules
from garrison.detect.sigma.stage import compiled_engine
from garrison.detect.sigma.rulesets import active_paths, disabled_rules, install, installed, set_enabled
from garrison.errors import GarrisonError
from garrison.model import Reject
from garrison.model.detection import LEVELS


@click.group("rules")
def rules() -> None:
    """Sigma rule sets: install, list, enable, disable."""


@rules.command("install")
@click.argument("source")
@click.option("--name", help="Rule set name (default: the archive's file name).")
@click.option("--sha256", help="The archive's expected SHA-256 (from a URL, else the one published as URL.sha256).")
@pass_ctx
def install_cmd(ctx: Context, source: str, name: str | None, sha256: str | None) -> None:
    """Install a SigmaHQ release package (zip) from a file or an http(s) URL; a URL's checksum is verified."""
    try:
        s = install(ctx.engine, ctx.config.data_path, source, name, sha256)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    rs = load_rules([s.path])
    out.print(f"installed rule set [bold]{s.name}[/]: {len(rs.rules) + len(rs.correlations):,} rules "
              f"from {rs.files:,} files, {len(rs.errors)} not loadable; enabled")


@rules.command("list")
@click.option("--rules", "show_rules", is_flag=True, help="List every rule, not just the rule sets.")
@pass_ctx
def list_cmd(ctx: Context, show_rules: bool) -> None:
    """Rule sets and what loads from them."""
    t = Table(title="rule sets")
    for c in ("name", "enabled", "rules", "not loadable", "source"):
        t.add_column(c)
    disabled = disabled_rules(ctx.engine)
    sets = [("garrison (built-in)", str(p), True, "garrison") for p in active_paths(ctx.engine, ctx.config)[:1]] + \
        [(s.name, s.path, s.enabled, s.source) for s in installed(ctx.engine)]
    all_rules = []
    for name, path, enabled, source in sets:
        rs = load_rules([path])
        t.add_row(name, "yes" if enabled else "no", f"{len(rs.rules) + len(rs.correlations):,}", str(len(rs.errors)), source)
        all_rules += [(name, r) for r in [*rs.rules, *rs.correlations]]
    out.print(t)
    if show_rules:
        rt = Table(title="rules")
        for c in ("set", "id", "title", "level", "enabled"):
            rt.add_column(c, overflow="fold")
        for name, r in all_rules:
            rid = str(r.id or r.name)
            rt.add_row(name, rid, r.title, r.level.name.lower() if r.level else "", "no" if rid in disabled else "yes")
        out.print(rt)


@rules.command("enable")
@click.argument("target")
@pass_ctx
def enable(ctx: Context, target: str) -> None:
    """Enable a rule set (by name) or one rule (by id)."""
    out.print(f"enabled {set_enabled(ctx.engine, target, True)}; restart garrison serve to apply")


@rules.command("disable")
@click.argument("target")
@pass_ctx
def disable(ctx: Context, target: str) -> None:
    """Disable a rule set (by name) or one rule (by id)."""
    out.print(f"disabled {set_enabled(ctx.engine, target, False)}; restart garrison serve to apply")


@click.command("hunt")
@click.option("--rules", "rule_paths", multiple=True, required=True, type=click.Path(exists=True),
              help="Rule file or folder (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One detection per line as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="One detection per line as CSV.")
@click.option("--min-level", type=click.Choice(LEVELS), default="informational", show_default=True)
@click.argument("logs", nargs=-1, required=True, type=click.Path(exists=True))
@pass_ctx
def hunt(ctx: Context, rule_paths: tuple[str, ...], as_json: bool, as_csv: bool, min_level: str, logs: tuple[str, ...]) -> None:
    """Run Sigma rules over log files: EVTX, JSON lines, and every format Garrison parses."""
    engine = compiled_engine(ctx.config, list(rule_paths))
    for f, reason in engine.errors:
        console.print(f"[yellow]rule not loaded[/]: {f}: {reason}")
    hunter = Hunter(ctx.config, [], [], engine=engine)
    floor = LEVELS.index(min_level)
    stats = HuntStats()
    counts: Counter[tuple[str, str]] = Counter()
    writer = csv.writer(sys.stdout) if as_csv else None
    if writer:
        writer.writerow(["timestamp", "level", "rule_id", "rule_title", "file", "record", "kind"])
    with Progress(TextColumn("[bold]hunt"), BarColumn(), TextColumn("{task.completed:,} records"),
                  TextColumn("{task.fields[rate]:,.0f}/s"), TextColumn("{task.fields[dets]:,} detections"),
                  TimeElapsedColumn(), console=console, transient=as_json or as_csv) as bar:
        task = bar.add_task("hunt", total=None, rate=0.0, dets=0)
        start = bar.get_time()

        def progress(n: int) -> None:
            done = bar.tasks[0].completed + n
            bar.update(task, completed=done, rate=done / max(1e-6, bar.get_time() - start), dets=stats.detections)

        for item in hunter.hunt(logs, stats, progress):
            if isinstance(item, Reject):
                continue
            if LEVELS.index(item.level) < floor:
                continue
            counts[(item.level, item.rule_title)] += 1
            if as_json:
                json_line(item.to_json())
            elif writer:
                j = item.to_json()
                writer.writerow([j["timestamp"], item.level, item.rule_id, item.rule_title, item.source_file,
                                 item.source_record, item.kind])
    if as_json or as_csv:
        return
    t = Table(title=f"{sum(counts.values()):,} detections in {stats.records:,} records "
                    f"({stats.rejects:,} unreadable) with {engine.report.loaded + engine.correlation_count:,} rules")
    t.add_column("level")
    t.add_column("rule")
    t.add_column("hits", justify="right")
    colours = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "informational": "dim"}
    for (level, title), n in sorted(counts.items(), key=lambda kv: (-LEVELS.index(kv[0][0]), -kv[1])):
        t.add_row(f"[{colours[level]}]{level}[/]", title, f"{n:,}")
    out.print(t)


COMMANDS = [rules, hunt]
