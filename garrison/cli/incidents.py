"""``garrison incidents``: the queue, one incident's facts, and the case workflow."""

from __future__ import annotations

import getpass

import click
from rich.table import Table

from garrison.cli._context import Context, fitted, json_line, out, pass_ctx
from garrison.errors import GarrisonError
from garrison.model import iso_from_us
from garrison.triage.cases import OUTCOMES, STATUSES, assign, close, comment, get_incident, list_incidents, set_status
from garrison.triage.suppress import KINDS, add_suppression, delete_suppression, from_incident, list_suppressions


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
            json_line(r)
        return
    cells = [[str(r["id"]), r["severity"], r["status"], str(r["risk"]), iso_from_us(r["last_seen"])[:16],
              r["assignee"] or "", r["title"]] for r in rows]
    out.print(fitted(f"{len(rows)} incident(s), highest risk first",
                     ["id", "severity", "status", "risk", "last seen", "assignee", "title"], cells, text=("title",)))


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
        json_line(inc)
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


def _act(fn, *args, done: str) -> None:  # type: ignore[no-untyped-def]
    """Run a workflow change as the CLI user; errors become a clear message."""
    try:
        fn(*args)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(done)


@incidents.command("assign")
@click.argument("incident_id", type=int)
@click.argument("who")
@pass_ctx
def assign_cmd(ctx: Context, incident_id: int, who: str) -> None:
    _act(assign, ctx.engine, incident_id, who, _actor(), done=f"#{incident_id} assigned to {who}")


@incidents.command("status")
@click.argument("incident_id", type=int)
@click.argument("status", type=click.Choice(STATUSES))
@pass_ctx
def status_cmd(ctx: Context, incident_id: int, status: str) -> None:
    _act(set_status, ctx.engine, incident_id, status, _actor(), done=f"#{incident_id} is {status}")


@incidents.command("comment")
@click.argument("incident_id", type=int)
@click.argument("text")
@pass_ctx
def comment_cmd(ctx: Context, incident_id: int, text: str) -> None:
    _act(comment, ctx.engine, incident_id, _actor(), text, done=f"comment added to #{incident_id}")


@incidents.command("close")
@click.argument("incident_id", type=int)
@click.option("--outcome", type=click.Choice(sorted(OUTCOMES)), required=True)
@click.option("--note", help="A closing comment.")
@click.option("--suppress", type=click.Choice(["rule", "entity"]),
              help="For a false positive: silence its rules, or its entities, from now on.")
@click.option("--for", "duration", default="30d", show_default=True, help="How long the suppression lasts.")
@pass_ctx
def close_cmd(ctx: Context, incident_id: int, outcome: str, note: str | None, suppress: str | None,
              duration: str) -> None:
    try:
        close(ctx.engine, incident_id, outcome, _actor(), note)
        out.print(f"#{incident_id} closed: {OUTCOMES[outcome]}")
        if suppress:
            ids = from_incident(ctx.engine, incident_id, suppress, note or f"closed #{incident_id} as {outcome}",
                                duration, _actor())
            out.print(f"suppression(s) {', '.join(map(str, ids))} created for {duration}")
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e


@click.group("suppressions")
def suppressions() -> None:
    """Rules, entities or field values silenced, with a reason and an expiry."""


@suppressions.command("add")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--rule", "rule_id", help="Rule id (kind rule; or limit an entity/field suppression to this rule).")
@click.option("--field", help="Event field, e.g. source.ip or user.name.")
@click.option("--value")
@click.option("--reason", required=True)
@click.option("--for", "duration", default="30d", show_default=True)
@pass_ctx
def suppress_add(ctx: Context, kind: str, rule_id: str | None, field: str | None, value: str | None, reason: str,
                 duration: str) -> None:
    try:
        sid = add_suppression(ctx.engine, kind, reason, duration, _actor(), rule_id, field, value)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"suppression {sid} created")


@suppressions.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired ones.")
@pass_ctx
def suppress_list(ctx: Context, show_all: bool) -> None:
    t = Table(title="suppressions")
    for c in ("id", "kind", "rule", "field", "value", "until", "hits", "reason", "by"):
        t.add_column(c, overflow="fold")
    for r in list_suppressions(ctx.engine, not show_all):
        t.add_row(str(r["id"]), r["kind"], r["rule_id"] or "", r["field"] or "", r["value"] or "",
                  iso_from_us(r["until"])[:16], str(r["hits"]), r["reason"], r["created_by"])
    out.print(t)


@suppressions.command("delete")
@click.argument("suppression_id", type=int)
@pass_ctx
def suppress_delete(ctx: Context, suppression_id: int) -> None:
    if not delete_suppression(ctx.engine, suppression_id, _actor()):
        raise click.ClickException(f"no suppression {suppression_id} (see: garrison suppressions list)")
    out.print(f"deleted suppression {suppression_id}")


COMMANDS = [incidents, suppressions]
