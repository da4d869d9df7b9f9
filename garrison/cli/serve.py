"""``garrison serve``: listeners, HTTP and the pipeline in one process on the embedded store."""

from __future__ import annotations

import asyncio
import logging
import secrets
import smtplib

from dataclasses import replace

import click
import uvicorn
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from garrison.cli._context import Context, console, pass_ctx
from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.report.schedule import send_monthly
from garrison.model import RawRecord
from garrison.pipeline.runner import LiveProcessor, build_live_pipeline, import_simulated, record_to_wal
from garrison.respond.notify import Notifier
from garrison.simulate.generate import simulate
from garrison.sources.syslog import start_listeners
from garrison.sources.tokens import create_token, list_tokens
from garrison.store.wal import Wal
from garrison.web.app import create_app

log = logging.getLogger("garrison.serve")
MAINTENANCE_SECONDS = 3600


def _demo_config(ctx: Context) -> Config:
    """The demo organisation's inventory, unless the configuration names one."""
    cfg = ctx.config
    if cfg.enrich.inventory:
        return cfg
    return replace(cfg, enrich=replace(cfg.enrich, inventory=str(cfg.data_path / "demo-logs" / "inventory.yaml")))


def _load_demo(ctx: Context) -> None:
    demo_dir = ctx.config.data_path / "demo-logs"
    if (demo_dir / "loaded").exists():
        console.print(f"[green]demo[/]: demo data already loaded from {demo_dir}")
        return
    with console.status("demo: simulating a day of a 5,000-staff council…"):
        sim = simulate(demo_dir, days=1, seed=7)
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
    from garrison.web.auth import add_user, list_users

    if not list_users(ctx.engine):
        password = secrets.token_urlsafe(12)
        add_user(ctx.engine, "demo", password, "analyst", "demo")
        console.print(f"[green]demo[/]: console account 'demo' (analyst), password {password} — "
                      f"http://{ctx.config.ingest.http}/console/")
    if not any(t["name"] == "demo" for t in list_tokens(ctx.engine)):
        token = create_token(ctx.engine, "demo", ctx.config.organization)
        console.print(f"[green]demo[/]: ingest token 'demo' = {token}")


@click.command("serve")
@click.option("--demo", is_flag=True, help="First generate and load a day of demo logs.")
@pass_ctx
def serve(ctx: Context, demo: bool) -> None:
    """Run the syslog listeners, HTTP/HEC ingest and the pipeline until stopped."""
    if demo:
        ctx.config = _demo_config(ctx)
        _load_demo(ctx)
    cfg = ctx.config
    wal = Wal(cfg.data_path / "wal")
    notifier = Notifier(cfg.notify)
    processor = LiveProcessor(build_live_pipeline(cfg, ctx.engine, notifier), ctx.store, wal, cfg.store.flush_seconds,
                              cfg.store.batch_events)
    processor.start()

    def durable_sink(records: list[RawRecord]) -> int:
        return wal.append([record_to_wal(r) for r in records], sync=True)

    def stream_sink(records: list[RawRecord]) -> int:
        return wal.append([record_to_wal(r) for r in records], sync=False)

    app = create_app(cfg, ctx.engine, durable_sink, ctx.store)
    host, _, port = cfg.ingest.http.rpartition(":")

    async def syncer() -> None:
        while True:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(wal.sync)
            if processor.error is not None:
                raise RuntimeError("the pipeline stopped") from processor.error

    async def maintenance() -> None:
        hours = 0
        while True:
            await asyncio.sleep(MAINTENANCE_SECONDS)
            hours += 1
            removed = await asyncio.to_thread(ctx.store.apply_retention, cfg.store.retention_days)
            days = await asyncio.to_thread(ctx.store.compact)
            log.info("maintenance: removed %d expired files, compacted %d days", removed, days)
            if cfg.notify.digest != "daily" or hours % 24 == 0:  # held notices go out hourly, or in the daily digest
                await asyncio.to_thread(notifier.flush_digest)
            try:
                await asyncio.to_thread(send_monthly, ctx.engine, cfg)
            except (OSError, smtplib.SMTPException, GarrisonError) as e:  # retried at the next hour
                log.warning("monthly report not sent: %s (check notify.smtp_host and report.mail_to)", e)

    async def main() -> None:
        await start_listeners(stream_sink, cfg.organization, cfg.ingest.max_line_bytes, cfg.ingest.syslog_udp,
                              cfg.ingest.syslog_tcp, cfg.ingest.syslog_tls, cfg.ingest.tls_cert, cfg.ingest.tls_key)
        server = uvicorn.Server(uvicorn.Config(app, host=host or "127.0.0.1", port=int(port), log_level="warning",
                                               lifespan="off"))
        console.print(f"[green]garrison[/] serving HTTP on http://{cfg.ingest.http} "
                      f"(HEC: /services/collector/event), syslog udp={cfg.ingest.syslog_udp} "
                      f"tcp={cfg.ingest.syslog_tcp} tls={cfg.ingest.syslog_tls}; data in {cfg.data_path}")
        tasks = [asyncio.create_task(t) for t in (syncer(), maintenance())]
        try:
            await server.serve()
        finally:
            for t in tasks:
                t.cancel()

    try:
        asyncio.run(main())
    finally:
        processor.stop()
        processor.join(timeout=30)
        wal.close()


COMMANDS = [serve]
