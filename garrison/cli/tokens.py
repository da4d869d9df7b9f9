"""``garrison tokens``: ingest tokens for HTTP and Splunk HEC senders."""

from __future__ import annotations

import click
from rich.table import Table

from garrison.cli._context import Context, out, pass_ctx
from garrison.model import iso_from_us
from garrison.sources.tokens import create_token, delete_token, list_tokens


@click.group("tokens")
def tokens() -> None:
    """Create, list and delete ingest tokens."""


@tokens.command("add")
@click.argument("name")
@click.option("--org", default=None, help="Organisation the token's events belong to (default: config organization).")
@click.option("--scope", "scopes", type=click.Choice(["ingest", "api", "ingest,api"]), default="ingest", show_default=True,
              help="ingest: send events; api: manage decisions and pull blocklists.")
@pass_ctx
def add(ctx: Context, name: str, org: str | None, scopes: str) -> None:
    """Create a token; it is shown once and stored only as a digest."""
    token = create_token(ctx.engine, name, org or ctx.config.organization, scopes)
    click.echo(token)


@tokens.command("list")
@pass_ctx
def list_cmd(ctx: Context) -> None:
    t = Table(title="ingest tokens")
    for c in ("name", "organization", "scopes", "created"):
        t.add_column(c)
    for r in list_tokens(ctx.engine):
        t.add_row(str(r["name"]), str(r["organization_id"]), str(r["scopes"]), iso_from_us(int(r["created_at"])))  # type: ignore[arg-type]
    out.print(t)


@tokens.command("delete")
@click.argument("name")
@pass_ctx
def delete(ctx: Context, name: str) -> None:
    if not delete_token(ctx.engine, name):
        raise click.ClickException(f"no token named {name!r} (see: garrison tokens list)")
    click.echo(f"deleted {name}")


COMMANDS = [tokens]
