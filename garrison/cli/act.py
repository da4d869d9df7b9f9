"""``garrison act``: response actions on Entra ID accounts through Microsoft Graph."""

from __future__ import annotations

import click

from garrison.cli._context import Context, fitted, json_line, out, pass_ctx
from garrison.errors import GarrisonError
from garrison.model import iso_from_us
from garrison.model.decision import parse_duration


@click.group("act")
def act() -> None:
    """Act on an Entra ID account: revoke sessions, block sign-in, confirm compromised, remove an inbox rule.

    Needs microsoft.actions: true and the write permissions in the README; accounts in
    microsoft.protected_accounts are never acted on; respond.dry_run records without acting."""


def _do(ctx: Context, action: str, user: str, reason: str, incident: int | None, as_json: bool,
        until: int | None = None, detail: dict[str, str] | None = None) -> None:
    from garrison.respond.identity import ACTIONS, perform

    try:
        row = perform(ctx.engine, ctx.config, action, user, "cli", reason, incident, detail, until)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        json_line(row)
    else:
        click.echo(f"{ACTIONS[action]} for {user}: {row['status']}" + (f" ({row['error']})" if row.get("error") else ""))


def _common(fn):  # type: ignore[no-untyped-def]
    fn = click.option("--json", "as_json", is_flag=True, help="Print the stored action as JSON.")(fn)
    fn = click.option("--incident", type=int, help="The incident this is done for.")(fn)
    fn = click.option("--reason", default="done from the command line", show_default=True)(fn)
    return click.argument("user")(fn)


@act.command("revoke-sessions")
@_common
@pass_ctx
def revoke(ctx: Context, user: str, reason: str, incident: int | None, as_json: bool) -> None:
    """Sign the user out everywhere (refresh tokens and session cookies revoked)."""
    _do(ctx, "revoke_sessions", user, reason, incident, as_json)


@act.command("block")
@_common
@click.option("--duration", default=None, help="Lift the block after this long (4h, 7d); default: until unblocked.")
@pass_ctx
def block(ctx: Context, user: str, reason: str, incident: int | None, as_json: bool, duration: str | None) -> None:
    """Block the user's sign-in (accountEnabled false)."""
    import time

    until = int(time.time() * 1e6) + parse_duration(duration) if duration else None
    _do(ctx, "block_signin", user, reason, incident, as_json, until)


@act.command("unblock")
@_common
@pass_ctx
def unblock(ctx: Context, user: str, reason: str, incident: int | None, as_json: bool) -> None:
    """Allow the user's sign-in again."""
    _do(ctx, "unblock_signin", user, reason, incident, as_json)


@act.command("confirm-compromised")
@_common
@pass_ctx
def confirm(ctx: Context, user: str, reason: str, incident: int | None, as_json: bool) -> None:
    """Tell Identity Protection the account is compromised (its risk policies then apply)."""
    _do(ctx, "confirm_compromised", user, reason, incident, as_json)


@act.command("remove-inbox-rule")
@_common
@click.option("--rule-id", required=True, help="The inbox rule's id (from the detection's evidence).")
@pass_ctx
def remove_rule(ctx: Context, user: str, reason: str, incident: int | None, as_json: bool, rule_id: str) -> None:
    """Delete an inbox rule (a forwarding or hiding rule an intruder set)."""
    _do(ctx, "remove_inbox_rule", user, reason, incident, as_json, detail={"rule_id": rule_id})


@act.command("approve")
@click.argument("action_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def approve(ctx: Context, action_id: int, as_json: bool) -> None:
    """Do an action a policy asked for (see garrison act list)."""
    from garrison.respond.identity import do_asked

    try:
        row = do_asked(ctx.engine, ctx.config, action_id, "cli")
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        json_line(row)
    else:
        click.echo(f"#{action_id} {row['action']} for {row['user']}: {row['status']}")


@act.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--user", default=None)
@pass_ctx
def list_cmd(ctx: Context, as_json: bool, user: str | None) -> None:
    """Actions asked for and done, newest first."""
    from garrison.respond.identity import list_actions

    rows = list_actions(ctx.engine, user=user)
    if as_json:
        for r in rows:
            json_line(r)
        return
    cells = [[str(r["id"]), r["action"], r["user"], r["status"], iso_from_us(r["done_at"] or r["asked_at"])[:16],
              r["reason"]] for r in rows]
    out.print(fitted(f"{len(rows)} identity action(s)", ["id", "action", "user", "status", "at", "reason"], cells,
                     text=("reason",)))


COMMANDS = [act]
