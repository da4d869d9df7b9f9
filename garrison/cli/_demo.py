"""``garrison serve --demo``: simulate and load a day of a council, and make a console account and a token."""

from __future__ import annotations

import secrets
from dataclasses import replace

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from garrison.cli._context import Context, console
from garrison.config import Config
from garrison.pipeline.runner import build_live_pipeline
from garrison.simulate.load import import_simulated
from garrison.simulate.generate import simulate
from garrison.sources.tokens import create_token, list_tokens
from garrison.web.auth import add_user, list_users


def demo_config(ctx: Context) -> Config:
    """The demo organisation's inventory, unless the configuration names one."""
    cfg = ctx.config
    if cfg.enrich.inventory:
        return cfg
    return replace(cfg, enrich=replace(cfg.enrich, inventory=str(cfg.data_path / "demo-logs" / "inventory.yaml")))


def load_demo(ctx: Context, recordings: str | None = None) -> None:
    demo_dir = ctx.config.data_path / "demo-logs"
    if (demo_dir / "loaded").exists():
        console.print(f"[green]demo[/]: demo data already loaded from {demo_dir}")
        return
    with console.status("demo: simulating a day of a 5,000-staff council…"):
        sim = simulate(demo_dir, days=1, seed=7, recordings=recordings, recordings_per_day=3 if recordings else 1)
    with Progress(TextColumn("[green]demo[/]: loading"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[rate]}"), console=console) as bar:
        task = bar.add_task("load", total=sim.events, rate="")

        def step(_bytes: int, events: int) -> None:
            bar.update(task, advance=events, rate=f"{bar.tasks[0].speed or 0:,.0f} events/s")

        result = import_simulated(build_live_pipeline(ctx.config, ctx.engine), ctx.store, demo_dir, step)
    (demo_dir / "loaded").write_text("ok\n")
    console.print(f"[green]demo[/]: stored {result.events:,} events of {sim.days[0]} from {result.files} simulated "
                  f"log files ({result.rejects} rejected) in {result.seconds:.1f}s; {sim.serious} serious attacks "
                  f"planted (truth: {demo_dir / 'truth.json'})")
    if not list_users(ctx.engine):
        password = secrets.token_urlsafe(12)
        add_user(ctx.engine, "demo", password, "analyst", "demo")
        console.print(f"[green]demo[/]: console account 'demo' (analyst), password {password} — "
                      f"http://{ctx.config.ingest.http}/console/")
    if not any(t["name"] == "demo" for t in list_tokens(ctx.engine)):
        token = create_token(ctx.engine, "demo", ctx.config.organization)
        console.print(f"[green]demo[/]: ingest token 'demo' = {token}")
