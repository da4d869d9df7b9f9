"""``garrison rules`` and ``garrison hunt``: manage Sigma rules, and hunt through logs with them."""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

import click
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from garrison.cli._context import Context, console, json_line, out, pass_ctx
from garrison.pipeline.hunt import Hunter, HuntStats
from garrison.detect.sigma.load import load_rules
from garrison.detect.sigma.stage import compiled_engine
from garrison.detect.sigma.rulesets import active_paths, disabled_rules, install, installed, prune, set_enabled
from garrison.detect.sigma.update import PACKAGES, compare, dry_run, folder_filter, github_release, package, rule_index
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
@click.option("--json", "as_json", is_flag=True, help="The rule sets (and with --rules, every rule) as JSON.")
@pass_ctx
def list_cmd(ctx: Context, show_rules: bool, as_json: bool) -> None:
    """Rule sets and what loads from them."""
    disabled = disabled_rules(ctx.engine)
    sets = [("garrison", str(p), True, "built-in", "") for p in active_paths(ctx.engine, ctx.config)[:1]] + \
        [(s.name, s.path, s.enabled, s.source, s.version or "") for s in installed(ctx.engine)]
    rows, all_rules = [], []
    for name, path, enabled, source, version in sets:
        rs = load_rules([path])
        rows.append({"name": name, "enabled": enabled, "rules": len(rs.rules) + len(rs.correlations),
                     "not_loadable": len(rs.errors), "version": version, "source": source, "path": path})
        all_rules += [(name, r) for r in [*rs.rules, *rs.correlations]]
    rule_rows = [{"set": name, "id": str(r.id or r.name), "title": r.title,
                  "level": r.level.name.lower() if r.level else "", "enabled": str(r.id or r.name) not in disabled}
                 for name, r in all_rules] if show_rules else []
    if as_json:
        json_line({"rule_sets": rows, **({"rules": rule_rows} if show_rules else {})})
        return
    t = Table(title="rule sets", box=box.SIMPLE)
    t.add_column("name", no_wrap=True)
    t.add_column("on", no_wrap=True)
    t.add_column("rules", justify="right", no_wrap=True)
    t.add_column("bad", justify="right", no_wrap=True)
    t.add_column("version", overflow="ellipsis", no_wrap=True)
    for r in rows:
        t.add_row(r["name"], "yes" if r["enabled"] else "no", f"{r['rules']:,}", str(r["not_loadable"]), r["version"])
    out.print(t)
    if show_rules:
        rt = Table(title="rules", box=box.SIMPLE)
        rt.add_column("id", no_wrap=True, min_width=36)
        rt.add_column("title", overflow="ellipsis", no_wrap=True)
        rt.add_column("level", no_wrap=True)
        rt.add_column("on", no_wrap=True)
        for r in rule_rows:
            rt.add_row(r["id"], r["title"], r["level"], "yes" if r["enabled"] else "no")
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


_SLUG = {"core": "core", "core+": "core-plus", "core++": "core-plus-plus", "emerging": "emerging", "all": "all"}


@rules.command("update")
@click.option("--package", "pkg_name", type=click.Choice(list(PACKAGES)), default=None,
              help="SigmaHQ release package (default: detect.sigma.update_package, core).")
@click.option("--url", help="Download from this URL instead of detect.sigma.update_url (a mirror).")
@click.option("--from", "from_path", type=click.Path(exists=True),
              help="Install from a release zip or a checkout of SigmaHQ's repository instead (offline).")
@click.option("--sha256", help="The package's expected SHA-256, where its host publishes none.")
@click.option("--hours", type=float, default=24, show_default=True, help="Try the new rules on this much stored data.")
@click.option("--enable", is_flag=True, help="Switch to the new version at once (else: print how to).")
@click.option("--json", "as_json", is_flag=True, help="What changed, as one JSON object.")
@pass_ctx
def update_cmd(ctx: Context, pkg_name: str | None, url: str | None, from_path: str | None, sha256: str | None,
               hours: float, enable: bool, as_json: bool) -> None:
    """Install the latest SigmaHQ rules as a new version: checksum verified, changes listed, tried on stored events."""
    from garrison.store.search import iter_events
    from garrison.store.records import now_us

    sig = ctx.config.detect.sigma
    pkg_name = pkg_name or sig.update_package
    pkg = package(pkg_name)
    family = f"sigmahq-{_SLUG[pkg_name]}"
    try:
        if from_path:
            source, version, want = from_path, None, sha256
        else:
            rel = github_release(url or sig.update_url.format(asset=pkg.asset), sig.update_api)
            source, version, want = rel.url, rel.version, sha256 or rel.sha256
        previous = next((s for s in installed(ctx.engine) if s.family == family and s.enabled), None)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = f"{family}-{version or stamp}"
        if version and any(s.name == name for s in installed(ctx.engine)):
            name = f"{name}-{stamp}"
        new = install(ctx.engine, ctx.config.data_path, source, name, want, family=family, version=version or stamp,
                      enable=False, keep=folder_filter(pkg) if from_path and Path(from_path).is_dir() else None)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    titles = rule_index(Path(new.path))
    changes = compare(rule_index(Path(previous.path)) if previous else {}, titles)
    engine = compiled_engine(ctx.config, [new.path])
    until = now_us()
    since = until - int(hours * 3600 * 1_000_000)
    with Progress(TextColumn("[bold]trying the new rules"), TextColumn("{task.completed:,} stored events"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("try", total=None)
        counts, events = dry_run(lambda ev: engine.match(ev, ev.get("@timestamp") or 0), engine.flush,
                                 iter_events(ctx.store, since, until), lambda n: bar.update(task, completed=n))
    tried = {rid: counts.get(rid, 0) for rid in sorted(changes.tried, key=lambda r: -counts.get(r, 0))}
    if enable:
        set_enabled(ctx.engine, new.name, True)
    pruned = prune(ctx.engine, family)
    if as_json:
        json_line({"name": new.name, "family": family, "version": new.version, "sha256": new.sha256, "source": source,
                   "previous": previous.name if previous else None, "rules": len(titles),
                   "not_loadable": len(engine.errors), "new": changes.new, "removed": changes.removed,
                   "changed": changes.changed, "unchanged": changes.unchanged, "enabled": enable, "pruned": pruned,
                   "dry_run": {"hours": hours, "events": events, "detections": tried}})
        return
    out.print(f"installed [bold]{new.name}[/] ({len(titles):,} rules, {len(engine.errors)} not loadable)"
              + (f", sha256 {new.sha256[:16]}…" if new.sha256 else "")
              + (f"; compared with {previous.name}, in use" if previous else f"; no version of {family} in use"))
    out.print(f"  {len(changes.new):,} new, {len(changes.removed):,} removed, {len(changes.changed):,} changed, "
              f"{changes.unchanged:,} unchanged")
    t = Table(title=f"new and changed rules on the last {hours:g} h ({events:,} stored events)", box=box.SIMPLE)
    t.add_column("rule id", no_wrap=True, min_width=36)
    t.add_column("title", overflow="ellipsis", no_wrap=True, max_width=24)
    t.add_column("is", no_wrap=True, min_width=3)
    t.add_column("hits", justify="right", no_wrap=True)
    for rid, n in list(tried.items())[:20]:
        t.add_row(rid, titles.get(rid, (rid, ""))[0], "new" if rid in changes.new else "chg", f"{n:,}")
    if tried:
        out.print(t)
    noisy = [rid for rid, n in tried.items() if n >= 100]
    if noisy:
        out.print(f"[yellow]{len(noisy)} rule(s) would raise 100 or more detections a day[/]: review them, or "
                  f"`garrison rules disable ID` before switching")
    if pruned:
        out.print(f"removed {len(pruned)} older version(s): {', '.join(pruned)}")
    if enable:
        out.print(f"[green]enabled {new.name}[/]" + (f" in place of {previous.name}" if previous else "")
                  + "; restart garrison serve to apply")
    else:
        out.print(f"not enabled yet: `garrison rules enable {new.name}` switches to it"
                  + (f" (and `garrison rules enable {previous.name}` back)" if previous else ""))


@click.command("hunt")
@click.option("--rules", "rule_paths", multiple=True, required=True, type=click.Path(exists=True),
              help="Rule file or folder (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One detection per line as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="One detection per line as CSV.")
@click.option("--min-level", type=click.Choice(LEVELS), default="informational", show_default=True)
@click.option("--engine", "query_engine", type=click.Choice(["duckdb", "spark"]),
              help="Hunt the event store instead of files: DuckDB on this machine, or Spark (a cluster).")
@click.option("--since", default="30d", show_default=True, help="With --engine: start (24h, 365d, an ISO time, all).")
@click.option("--until", default=None, help="With --engine: end (default now).")
@click.option("--spark-master", default="local[2]", show_default=True, help="With --engine spark: the Spark master URL.")
@click.argument("logs", nargs=-1, type=click.Path(exists=True))
@pass_ctx
def hunt(ctx: Context, rule_paths: tuple[str, ...], as_json: bool, as_csv: bool, min_level: str,
         query_engine: str | None, since: str, until: str | None, spark_master: str, logs: tuple[str, ...]) -> None:
    """Run Sigma rules over log files (EVTX, JSON lines, every format Garrison parses), or over the stored
    events with --engine duckdb|spark."""
    if query_engine:
        from garrison.cli._hunt_store import hunt_stored

        hunt_stored(ctx, list(rule_paths), query_engine, since, until, spark_master, as_json, min_level)
        return
    if not logs:
        raise click.UsageError("name the log files to hunt through, or hunt the store with --engine duckdb|spark")
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
