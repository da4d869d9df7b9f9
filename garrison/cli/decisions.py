"""``garrison ban|unban|decisions|bouncers|blocklist``: decisions by hand, and what enforcers pull."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from garrison.cli._context import Context, fitted, json_line, out, pass_ctx
from garrison.errors import GarrisonError
from garrison.model import iso_from_us
from garrison.model.decision import SCOPES, TYPES
from garrison.respond.bouncers import add_bouncer, delete_bouncer, list_bouncers
from garrison.respond.decisions import ActiveView, delete_decisions, list_decisions
from garrison.respond.export import FORMATS, render
from garrison.respond.manual import manual_ban
from garrison.store.records import now_us


@click.command("ban")
@click.argument("value")
@click.option("--scope", type=click.Choice(SCOPES), default="ip", show_default=True)
@click.option("--type", "type_", type=click.Choice(TYPES), default="ban", show_default=True)
@click.option("--duration", default="4h", show_default=True, help="e.g. 30m, 4h, 7d")
@click.option("--reason", default="manual ban", show_default=True)
@pass_ctx
def ban(ctx: Context, value: str, scope: str, type_: str, duration: str, reason: str) -> None:
    """Ban (or captcha, or throttle) an IP, range, country, AS or user."""
    try:
        d = manual_ban(ctx.config, ctx.engine, value, scope, type_, duration, reason, "cli")
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"decision {d.id}: {d.type} {d.scope} {d.value} until {iso_from_us(d.until)}"
              + (" [simulated: respond.dry_run is on]" if d.simulated else ""))


@click.command("unban")
@click.argument("value", required=False)
@click.option("--id", "decision_id", type=int, help="Lift one decision by its id.")
@pass_ctx
def unban(ctx: Context, value: str | None, decision_id: int | None) -> None:
    """Lift the active decisions on a value (or one decision by --id)."""
    try:
        n = delete_decisions(ctx.engine, value, decision_id, actor="cli")
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"lifted {n} decision(s)")


@click.command("decisions")
@click.option("--history", is_flag=True, help="Include expired and lifted decisions.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=200, show_default=True)
@pass_ctx
def decisions(ctx: Context, history: bool, as_json: bool, limit: int) -> None:
    """Decisions in force (or all of them)."""
    rows = list_decisions(ctx.engine, active_only=not history, limit=limit)
    if as_json:
        for d in rows:
            json_line({k: getattr(d, k) for k in d.__slots__ if k != "extra"})
        return
    now = now_us()
    cells = []
    for d in rows:
        state = "simulated" if d.simulated else "lifted" if d.deleted_at else "expired" if d.until <= now else "active"
        cells.append([str(d.id), d.type, d.value, iso_from_us(d.until)[:16], state, d.origin, d.reason])
    out.print(fitted(f"{len(rows)} decision(s)" + (" (with history)" if history else " in force"),
                     ["id", "type", "value", "until", "state", "origin", "reason"], cells, text=("origin", "reason")))


@click.group("bouncers")
def bouncers() -> None:
    """API keys for CrowdSec bouncers (nftables, nginx, HAProxy, Cloudflare, custom)."""


@bouncers.command("add")
@click.argument("name")
@pass_ctx
def bouncers_add(ctx: Context, name: str) -> None:
    """Create a bouncer key; it is shown once. Point the bouncer's api_url at garrison serve."""
    try:
        click.echo(add_bouncer(ctx.engine, name))
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e


@bouncers.command("list")
@pass_ctx
def bouncers_list(ctx: Context) -> None:
    t = Table(title="bouncers")
    for c in ("name", "created", "last pull", "address", "agent"):
        t.add_column(c)
    for b in list_bouncers(ctx.engine):
        t.add_row(str(b["name"]), iso_from_us(int(b["created_at"]))[:19],  # type: ignore[arg-type]
                  iso_from_us(int(b["last_pull"]))[:19] if b["last_pull"] else "never",  # type: ignore[arg-type]
                  str(b["ip_address"] or ""), str(b["user_agent"] or ""))
    out.print(t)


@bouncers.command("delete")
@click.argument("name")
@pass_ctx
def bouncers_delete(ctx: Context, name: str) -> None:
    if not delete_bouncer(ctx.engine, name):
        raise click.ClickException(f"no bouncer named {name!r} (see: garrison bouncers list)")
    out.print(f"deleted {name}")


@click.command("blocklist")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="plain", show_default=True)
@pass_ctx
def blocklist(ctx: Context, fmt: str) -> None:
    """Print the active bans as a plain list, an nftables script or an nginx deny include."""
    view = ActiveView(ctx.engine)
    view.refresh()
    sys.stdout.write(render(view.active(), fmt))


COMMANDS = [ban, unban, decisions, bouncers, blocklist]
