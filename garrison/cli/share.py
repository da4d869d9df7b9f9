"""``garrison share``: indicators for neighbours (STIX 2.1, MISP feed) and neighbours' MISP feeds in."""

from __future__ import annotations

from pathlib import Path

import click

from garrison.cli._context import Context, console, json_line, pass_ctx
from garrison.errors import GarrisonError


@click.group()
def share() -> None:
    """Share attackers and phishing indicators with the cluster's members and other tools."""


@share.command("export")
@click.option("--format", "fmt", type=click.Choice(["stix", "misp"]), required=True)
@click.option("--out", "out_path", required=True, type=click.Path(), help="A .json file (STIX) or a folder (MISP feed).")
@click.option("--tlp", type=click.Choice(["clear", "green", "amber", "amber+strict", "red"]), default="amber", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def export(ctx: Context, fmt: str, out_path: str, tlp: str, as_json: bool) -> None:
    """Active bans and reported-phishing indicators, without internal hosts or users."""
    from garrison.cluster.share import collect, misp_feed, stix_bundle

    items = collect(ctx.engine, ctx.config)
    org = ctx.config.awareness.organisation
    if fmt == "stix":
        Path(out_path).write_text(stix_bundle(items, org, tlp))
        ref = out_path
    else:
        ref = misp_feed(items, org, Path(out_path), tlp)
    if as_json:
        json_line({"format": fmt, "indicators": len(items), "out": out_path, "ref": ref, "tlp": tlp})
    else:
        console.print(f"{len(items):,} indicators written to {out_path} ({fmt}, TLP:{tlp.upper()})")


@share.command("import")
@click.argument("source")
@click.option("--name", required=True, help="What to call this feed (its folder under data/intel/feeds/).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def import_cmd(ctx: Context, source: str, name: str, as_json: bool) -> None:
    """A MISP feed (a folder or URL with manifest.json): its events become an indicator list the intel stage loads."""
    from garrison.cluster.share import import_misp_feed

    try:
        r = import_misp_feed(ctx.config, source, name)
    except (GarrisonError, OSError, ValueError) as e:
        raise click.ClickException(f"{source}: {e} (a MISP feed is a folder or URL holding manifest.json)") from e
    if as_json:
        json_line({"feed": name, **r})
    else:
        console.print(f"{name}: {r['events']} events fetched, {r['unchanged']} unchanged")


COMMANDS = [share]
