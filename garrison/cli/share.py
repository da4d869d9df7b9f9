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


def _member(hub: str, member: str, key_file: str) -> tuple[str, str, str]:
    try:
        return hub, member, Path(key_file).read_text().strip()
    except OSError as e:
        raise click.ClickException(f"{key_file}: cannot read the member key ({e.strerror})") from e


@share.command("push")
@click.option("--hub", required=True, help="The hub's URL (its garrison serve address).")
@click.option("--member", required=True, help="This organisation's member name on the hub.")
@click.option("--key-file", required=True, type=click.Path(dir_okay=False), help="The key the hub issued.")
@click.option("--tlp", type=click.Choice(["clear", "green", "amber", "amber+strict", "red"]), default="amber", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def push_cmd(ctx: Context, hub: str, member: str, key_file: str, tlp: str, as_json: bool) -> None:
    """Share our indicators with the cluster hub (TAXII 2.1)."""
    from garrison.cluster.share import collect, push, stix_bundle

    url, name, key = _member(hub, member, key_file)
    try:
        r = push(url, name, key, stix_bundle(collect(ctx.engine, ctx.config), ctx.config.awareness.organisation, tlp))
    except Exception as e:  # taxii2-client raises requests' and its own errors
        raise click.ClickException(f"{hub}: {type(e).__name__}: {e} (check --hub, --member and the key)") from e
    json_line(r) if as_json else console.print(f"{r['success']} of {r['total']} objects taken by the hub")


@share.command("poll")
@click.option("--hub", required=True)
@click.option("--member", required=True)
@click.option("--key-file", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def poll_cmd(ctx: Context, hub: str, member: str, key_file: str, as_json: bool) -> None:
    """Fetch what the cluster shared since the last poll into our indicator lists."""
    from garrison.cluster.share import poll

    url, name, key = _member(hub, member, key_file)
    try:
        r = poll(ctx.config, url, name, key)
    except Exception as e:  # taxii2-client raises requests' and its own errors
        raise click.ClickException(f"{hub}: {type(e).__name__}: {e} (check --hub, --member and the key)") from e
    json_line(r) if as_json else console.print(f"{r['objects']} new objects from the cluster")


@click.group()
def cluster() -> None:
    """The regional cluster: the hub's members (cluster.role: hub), a member's exchange."""


@cluster.command("sync")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def sync_cmd(ctx: Context, as_json: bool) -> None:
    """Exchange with the hub now (garrison serve does it every cluster.sync_seconds)."""
    from garrison.cluster.member import sync

    if not ctx.config.cluster.hub_url:
        raise click.ClickException("cluster.hub_url is not set: name the hub, cluster.member and cluster.key_file")
    try:
        r = sync(ctx.engine, ctx.config)
    except Exception as e:  # httpx, requests (taxii2-client) and our own errors alike: say which hub
        raise click.ClickException(f"{ctx.config.cluster.hub_url}: {type(e).__name__}: {e} (is the hub up? check the key)") from e
    if as_json:
        json_line(r)
    else:
        console.print(", ".join(f"{k} {v:,}" for k, v in r.items()))


@cluster.group("members")
def members_group() -> None:
    """Members of the cluster and their keys."""


@members_group.command("add")
@click.argument("name")
@pass_ctx
def members_add(ctx: Context, name: str) -> None:
    """Issue a member key (printed once; give it to the member over a trusted channel)."""
    from garrison.cluster.hub import add_member

    try:
        click.echo(add_member(ctx.engine, name, "cli"))
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e


@members_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def members_list(ctx: Context, as_json: bool) -> None:
    from garrison.cli._context import fitted, out
    from garrison.cluster.hub import members
    from garrison.model import iso_from_us

    rows = members(ctx.engine)
    if as_json:
        for r in rows:
            json_line(r)
        return
    out.print(fitted(None, ["member", "added", "last exchange"], [[r["name"], iso_from_us(r["created_at"])[:16],
                                                                   iso_from_us(r["last_seen"])[:16] if r["last_seen"] else "never"] for r in rows]))


COMMANDS = [share, cluster]
