"""``garrison serve``: argument handling; the service is assembled in ``garrison.pipeline.service``."""

from __future__ import annotations

import asyncio
import sys

import click

from garrison.cli._context import Context, console, pass_ctx
from garrison.cli._demo import demo_config, load_demo
from garrison.errors import GarrisonError
from garrison.pipeline.roles import make_service
from garrison.awareness.schedule import tick
from garrison.report.schedule import send_monthly
from garrison.web.app import create_app


def scheduled_work(engine, config) -> None:  # type: ignore[no-untyped-def]
    """What garrison serve runs every minute: the awareness programme's sending, the cluster exchange."""
    from garrison.cluster import feeds
    from garrison.cluster.member import scheduled

    try:
        tick(engine, config)
    finally:
        try:
            scheduled(engine, config)
        finally:
            feeds.scheduled(config)


@click.command("serve")
@click.option("--role", type=click.Choice(["all", "ingest", "worker"]), default="all", show_default=True,
              help="Scaled out (bus.url set): ingest nodes publish to NATS JetStream, workers process from it.")
@click.option("--demo", is_flag=True, help="First generate and load a day of demo logs.")
@click.option("--demo-recordings", type=click.Path(exists=True, file_okay=False),
              help="With --demo: splice real Windows attack recordings (OTRF zips) from this folder into the day.")
@pass_ctx
def serve(ctx: Context, role: str, demo: bool, demo_recordings: str | None) -> None:
    """Run the syslog listeners, HTTP/HEC ingest and the pipeline until stopped (exits non-zero on failure)."""
    if demo:
        ctx.config = demo_config(ctx)
        load_demo(ctx, demo_recordings)
    cfg = ctx.config
    try:
        service = make_service(cfg, ctx.engine, ctx.store, role)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    app = create_app(cfg, ctx.engine, service.durable_sink, ctx.store, health=service.health)
    if role != "all":
        console.print(f"[green]garrison[/] {role} node {service.node} on bus {cfg.bus.url} "  # type: ignore[attr-defined]
                      f"(stream {cfg.bus.stream}, {cfg.bus.partitions} partitions)")
    console.print(f"[green]garrison[/] serving HTTP on http://{cfg.ingest.http} (HEC: /services/collector/event), "
                  f"syslog udp={cfg.ingest.syslog_udp} tcp={cfg.ingest.syslog_tcp} tls={cfg.ingest.syslog_tls}; "
                  f"data in {cfg.data_path}; health at /healthz")
    code = asyncio.run(service.run(app, send_monthly if role != "ingest" else None,
                                   scheduled_work if role != "ingest" else None))
    if code:
        console.print(f"[red]garrison serve stopped with an error (exit {code})[/]: see the log above")
        sys.exit(code)


COMMANDS = [serve]
