"""``garrison campaigns`` and ``garrison training``: phishing simulations and awareness training."""

from __future__ import annotations

import time

import click

from garrison.cli._context import Context, console, fitted, json_line, out, pass_ctx
from garrison.errors import GarrisonError
from garrison.model import iso_from_us


@click.group()
def campaigns() -> None:
    """Phishing simulations: create, list, send, results (docs/awareness.md)."""


@campaigns.command("create")
@click.argument("name")
@click.option("--template", required=True, help="A built-in template (garrison campaigns templates).")
@click.option("--targets", "targets_csv", type=click.Path(exists=True, dir_okay=False), help="CSV: email, name, department.")
@click.option("--group", help="Or an Entra ID group's id (through the Microsoft connector).")
@click.option("--start", help="When the send window opens (ISO time; default now).")
@click.option("--window-hours", default=4, show_default=True, help="Working hours the messages are spread over.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def create(ctx: Context, name: str, template: str, targets_csv: str | None, group: str | None, start: str | None,
           window_hours: int, as_json: bool) -> None:
    """Create a campaign NAME and schedule its messages (garrison serve sends them in the window)."""
    from garrison.awareness import campaigns as c
    from garrison.model.event import us_from_iso

    if bool(targets_csv) == bool(group):
        raise click.UsageError("give exactly one of --targets CSV and --group ID")
    try:
        targets = c.targets_from_csv(targets_csv) if targets_csv else c.targets_from_group(ctx.config, str(group))
        cid = c.create(ctx.engine, ctx.config, name, template, targets, "cli", us_from_iso(start) if start else None, window_hours)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        json_line({"id": cid, "name": name, "template": template, "targets": len(targets)})
    else:
        out.print(f"campaign {name!r} created: {len(targets)} targets, template {template}, over {window_hours} working hours")


@campaigns.command("templates")
@click.option("--json", "as_json", is_flag=True)
def list_templates(as_json: bool) -> None:
    """The built-in simulation templates."""
    from garrison.awareness.library import templates

    rows = [{"id": k, "title": t["title"], "landing": t["landing"]} for k, t in templates().items()]
    if as_json:
        for r in rows:
            json_line(r)
        return
    out.print(fitted(None, ["id", "landing", "title"], [[r["id"], r["landing"], r["title"]] for r in rows], text=("title",)))


@campaigns.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_cmd(ctx: Context, as_json: bool) -> None:
    """Every campaign with its status and how many were sent."""
    from garrison.awareness.campaigns import list_campaigns

    rows = list_campaigns(ctx.engine)
    if as_json:
        for r in rows:
            json_line(r)
        return
    out.print(fitted(None, ["name", "template", "status", "sent", "starts"],
                     [[r["name"], r["template"], r["status"], f"{r['sent']}/{r['targets']}", iso_from_us(r["start_at"])[:16]] for r in rows]))


@campaigns.command("send")
@click.argument("name")
@click.option("--now", "everything", is_flag=True, help="Send every remaining message now, not only those whose time has come.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def send(ctx: Context, name: str, everything: bool, as_json: bool) -> None:
    """Send a campaign's due messages through the sending profile (awareness.smtp_*)."""
    from garrison.awareness.campaigns import campaign_id, send_due

    try:
        campaign_id(ctx.engine, name)
        n = send_due(ctx.engine, ctx.config, name=name, everything=everything)
    except (GarrisonError, OSError) as e:
        raise click.ClickException(f"{e} (check awareness.smtp_host and the sending profile)") from e
    if as_json:
        json_line({"campaign": name, "sent": n})
    else:
        out.print(f"{n} message(s) of {name!r} sent")


@campaigns.command("results")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def results(ctx: Context, name: str, as_json: bool) -> None:
    """Click (people only, and with scanners), submit and report rates per department, time to first report."""
    from garrison.awareness.results import campaign_results

    try:
        r = campaign_results(ctx.engine, name)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        json_line(r)
        return

    def p(v: float | None) -> str:
        return "—" if v is None else f"{v:.0f}%"
    rows = [[d["department"], str(d["delivered"]), p(d["clicked"]), p(d["clicked_with_scanners"]), p(d["submitted"]), p(d["reported"])]
            for d in r["departments"]]
    rows.append(["all", str(r["delivered"]), p(r["clicked"]), p(r["clicked_with_scanners"]), p(r["submitted"]), p(r["reported"])])
    out.print(fitted(f"{name}: first report after {r['first_report_minutes'] if r['first_report_minutes'] is not None else '—'} min",
                     ["department", "sent", "clicked", "+scanners", "submitted", "reported"], rows, text=("department",)))


@click.group()
def training() -> None:
    """Awareness training: assign modules, see who completed them."""


@training.command("assign")
@click.option("--module", required=True, help="phishing, passwords_mfa, reporting or removable_media.")
@click.option("--targets", "targets_csv", type=click.Path(exists=True, dir_okay=False), help="CSV of people (everyone, say).")
@click.option("--campaign", help="Or those who clicked or submitted in this campaign.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def assign_cmd(ctx: Context, module: str, targets_csv: str | None, campaign: str | None, as_json: bool) -> None:
    """Assign a module (emailed by garrison serve, with reminders when overdue)."""
    from garrison.awareness import campaigns as c
    from garrison.awareness import training as t

    if bool(targets_csv) == bool(campaign):
        raise click.UsageError("give exactly one of --targets CSV and --campaign NAME")
    try:
        if campaign:
            n = t.assign_failures(ctx.engine, ctx.config, campaign, "cli") if module == "phishing" else 0
        else:
            people = [{"email": x.email, "name": x.name, "department": x.department} for x in c.targets_from_csv(str(targets_csv))]
            n = t.assign(ctx.engine, ctx.config, people, module, f"assigned to everyone on {time.strftime('%Y-%m-%d')}", "cli")
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        json_line({"module": module, "assigned": n})
    else:
        console.print(f"{n} assignment(s) of {module}")


@training.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status_cmd(ctx: Context, as_json: bool) -> None:
    """Per module and department: assigned, completed, overdue, average score."""
    from garrison.awareness.training import status

    rows = status(ctx.engine)
    if as_json:
        for r in rows:
            json_line(r)
        return
    out.print(fitted(None, ["module", "department", "assigned", "done", "overdue", "score"],
                     [[r["module"], r["department"], str(r["assigned"]), str(r["completed"]), str(r["overdue"]),
                       "—" if r["average_score"] is None else f"{r['average_score']}%"] for r in rows], text=("department",)))


COMMANDS = [campaigns, training]
