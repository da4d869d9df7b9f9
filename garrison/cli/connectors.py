"""``garrison connectors``: what the pulled sources (Microsoft 365 and Entra ID) last did."""

from __future__ import annotations

import time
import click

from garrison.cli._context import Context, fitted, json_line, out, pass_ctx
from garrison.sources.microsoft import connector_status, load_status


def _ago(us: int | None, now: float) -> str:
    if not us:
        return "never"
    s = max(0, int(now - us / 1e6))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


@click.group("connectors")
def connectors() -> None:
    """The pulled sources' state: Microsoft 365 and Entra ID."""


@connectors.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Per stream: how far it has read (lag), its last success and last error, and records per minute."""
    st = load_status(ctx.config.data_path)
    m = ctx.config.microsoft
    if st is None:
        if not (m.tenant_id and m.client_id):
            raise click.ClickException("no connector is configured: add a microsoft: section to garrison.yaml "
                                       "(README: Microsoft 365 and Entra ID)")
        raise click.ClickException("no connector has run yet: start garrison serve")
    now = time.time()
    summary = connector_status(ctx.config, ctx.engine, st, now)
    rows = summary["streams"]
    stale = summary["stale"]
    if as_json:
        json_line(summary)
        return
    cells = [[r["stream"], _ago(r["checkpoint"], now), _ago(r["last_success"], now), f"{r['per_minute']:g}",
              str(r["records"]), r["last_error"] or "-"] for r in rows]
    out.print(fitted(f"connectors: {summary['requests']} requests, {summary['throttled']} throttled"
                     + (" (stale: is garrison serve running?)" if stale else ""),
                     ["stream", "lag", "success", "per min", "records", "last error"], cells, text=("last error",)))


COMMANDS = [connectors]
