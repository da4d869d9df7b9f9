"""``garrison hunt --engine duckdb|spark``: Sigma over the stored events (``garrison.pipeline.hunt_store``)."""

from __future__ import annotations

import time
from collections import Counter

import click

from garrison.cli._context import Context, console, fitted, json_line, out
from garrison.detect.sigma.stage import compiled_engine
from garrison.errors import GarrisonError
from garrison.pipeline.hunt_store import hunt_store
from garrison.store.query import parse_time_bound

LEVELS = ["informational", "low", "medium", "high", "critical"]


def hunt_stored(ctx: Context, rule_paths: list[str], engine_name: str, since: str, until: str | None, master: str,
                as_json: bool, min_level: str) -> None:
    now = int(time.time() * 1_000_000)
    try:
        since_us = None if since == "all" else parse_time_bound(since, now)
        until_us = parse_time_bound(until, now) if until else None
    except GarrisonError as e:
        raise click.BadParameter(str(e)) from e
    first = compiled_engine(ctx.config, rule_paths)
    for f, reason in first.errors:
        console.print(f"[yellow]rule not loaded[/]: {f}: {reason}")
    cfg = ctx.config
    made = [first]

    def make_engine():  # type: ignore[no-untyped-def]
        return made.pop() if made else compiled_engine(cfg, rule_paths)

    with console.status(f"hunting the store with {engine_name} ({len(ctx.store.files(since_us, until_us)):,} files)"):
        res = hunt_store(ctx.store, make_engine, engine_name, since_us, until_us, master)
    floor = LEVELS.index(min_level)
    dets = [d for d in res.detections if LEVELS.index(d.level) >= floor]
    if as_json:
        for d in dets:
            json_line(d.to_json())
        return
    counts = Counter((d.level, d.rule_title) for d in dets)
    rows = [[lvl, title, f"{n:,}"] for (lvl, title), n in
            sorted(counts.items(), key=lambda kv: (-LEVELS.index(kv[0][0]), -kv[1]))]
    out.print(fitted(f"{len(dets):,} detections in {res.rows_scanned:,} stored events ({res.files} files, "
                     f"{res.matched_events:,} matched) by {engine_name} in {res.seconds:.1f}s",
                     ["level", "rule", "hits"], rows, text=("rule",)))
