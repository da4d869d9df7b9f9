"""``garrison incidents``: the queue, one incident's facts, and the case workflow."""

from __future__ import annotations

import getpass
import sys

import click
import orjson
from rich.table import Table

from garrison.cli._context import Context, out, pass_ctx
from garrison.errors import GarrisonError
from garrison.model import iso_from_us
from garrison.triage.cases import OUTCOMES, STATUSES, assign, close, comment, get_incident, list_incidents, set_status


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group("incidents")
def incidents() -> None:
    """Incidents: detections grouped by the entities they share, ranked by risk."""


@incidents.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--severity")
@click.option("--assignee")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_cmd(ctx: Context, status: str | None, severity: str | None, assignee: str | None, as_json: bool) -> None:
    rows = list_incidents(ctx.engine, status, severity, assignee)
    if as_json:
        for r in rows:
            sys.stdout.write(orjson.dumps(r).decode() + "\n")
        return
    t = Table(title=f"{len(rows)} incident(s), highest risk first")
    for c in ("id", "severity", "status", "risk", "title", "assignee", "last seen"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(str(r["id"]), r["severity"], r["status"], str(r["risk"]), r["title"], r["assignee"] or "",
                  iso_from_us(r["last_seen"])[:16])
    out.print(t)


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx: Context, incident_id: int, as_json: bool) -> None:
    try:
        inc = get_incident(ctx.engine, incident_id)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        sys.stdout.write(orjson.dumps(inc, default=str).decode() + "\n")
        return
    out.print(f"[bold]#{inc['id']} {inc['title']}[/]  {inc['severity']} · {inc['status']} · risk {inc['risk']}"
              + (f" · {inc['assignee']}" if inc["assignee"] else ""))
    out.print(inc["summary"])
    out.print(f"ATT&CK: {', '.join(inc['techniques']) or '-'}    raised because of {inc['reason']}")
    et = Table(title="entities")
    for c in ("kind", "value", "risk"):
        et.add_column(c)
    for e in inc["entities"]:
        et.add_row(e["kind"], e["value"], str(e["risk"]))
    out.print(et)
    tl = Table(title="timeline")
    for c in ("time", "level", "rule", "event"):
        tl.add_column(c, overflow="fold")
    for d in inc["detections"]:
        tl.add_row(iso_from_us(d["timestamp"])[:19], d["level"], d["rule_title"], str(d["event_id"] or ""))
    out.print(tl)
    for cm in inc["comments"]:
        out.print(f"[dim]{iso_from_us(cm['at'])[:16]} {cm['author']}:[/] {cm['text']}")


@incidents.command("assign")
@click.argument("incident_id", type=int)
@click.argument("who")
@pass_ctx
def assign_cmd(ctx: Context, incident_id: int, who: str) -> None:
    try:
        assign(ctx.engine, incident_id, who, _actor())
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"#{incident_id} assigned to {who}")


@incidents.command("status")
@click.argument("incident_id", type=int)
@click.argument("status", type=click.Choice(STATUSES))
@pass_ctx
def status_cmd(ctx: Context, incident_id: int, status: str) -> None:
    try:
        set_status(ctx.engine, incident_id, status, _actor())
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"#{incident_id} is {status}")


@incidents.command("comment")
@click.argument("incident_id", type=int)
@click.argument("text")
@pass_ctx
def comment_cmd(ctx: Context, incident_id: int, text: str) -> None:
    try:
        comment(ctx.engine, incident_id, _actor(), text)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"comment added to #{incident_id}")


@incidents.command("close")
@click.argument("incident_id", type=int)
@click.option("--outcome", type=click.Choice(sorted(OUTCOMES)), required=True)
@click.option("--note", help="A closing comment.")
@pass_ctx
def close_cmd(ctx: Context, incident_id: int, outcome: str, note: str | None) -> None:
    try:
        close(ctx.engine, incident_id, outcome, _actor(), note)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"#{incident_id} closed: {OUTCOMES[outcome]}")


COMMANDS = [incidents]
