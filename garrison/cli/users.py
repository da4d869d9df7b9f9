"""``garrison users``: console accounts (argon2 passwords, roles admin/analyst/viewer)."""

from __future__ import annotations

import sys
import time

import click
from rich.table import Table

from garrison.cli._context import Context, console, out, pass_ctx


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@click.group("users")
def users() -> None:
    """Console accounts."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "analyst", "admin"]), default="analyst", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@pass_ctx
def add(ctx: Context, name: str, role: str, password_stdin: bool) -> None:
    """Add an account; the password is asked for (at least 12 characters)."""
    from garrison.web.auth import add_user

    add_user(ctx.engine, name, _password(password_stdin), role)
    console.print(f"[green]added[/] {name} ({role}); sign in at /console/ on garrison serve's HTTP address")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
@pass_ctx
def passwd(ctx: Context, name: str, password_stdin: bool) -> None:
    """Set an account's password (ends its sessions, lifts a lockout)."""
    from garrison.web.auth import set_password

    set_password(ctx.engine, name, _password(password_stdin), "cli")
    console.print(f"[green]password changed[/] for {name}")


@users.command("set")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "analyst", "admin"]))
@click.option("--disable/--enable", default=None)
@click.option("--unlock", is_flag=True, help="Lift a lockout after failed sign-ins.")
@pass_ctx
def set_cmd(ctx: Context, name: str, role: str | None, disable: bool | None, unlock: bool) -> None:
    """Change an account's role, disable or enable it, or unlock it."""
    from garrison.web.auth import set_user

    set_user(ctx.engine, name, "cli", role=role, disabled=disable, unlock=unlock)
    console.print(f"[green]changed[/] {name}")


@users.command("list")
@pass_ctx
def list_cmd(ctx: Context) -> None:
    """Every account, its role and state."""
    from garrison.web.auth import list_users

    t = Table(title="console accounts")
    for c in ("name", "role", "state", "last sign-in", "single sign-on"):
        t.add_column(c)
    now = time.time() * 1e6
    for u in list_users(ctx.engine):
        state = "disabled" if u["disabled"] else "locked" if (u["locked_until"] or 0) > now else "active"
        t.add_row(u["name"], u["role"], state,
                  time.strftime("%Y-%m-%d %H:%M", time.gmtime(u["last_login"] / 1e6)) if u["last_login"] else "never",
                  "yes" if u["sso_subject"] else "")
    out.print(t)


COMMANDS = [users]
