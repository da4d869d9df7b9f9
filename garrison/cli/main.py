"""The ``garrison`` command: one click group, one module per noun."""

from __future__ import annotations

import logging
import sys

import click

from garrison.cli import (
    decisions, detections, evaluate, incidents, ingest, quarantine, report, rules, search, serve, simulate, store,
    tokens, users,
)
from garrison.cli._context import make_context
from garrison.errors import GarrisonError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="GARRISON_CONFIG",
              help="YAML configuration file.")
@click.option("--data-dir", envvar="GARRISON_DATA_DIR", help="Data directory (default ./garrison-data).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, data_dir: str | None, verbose: bool) -> None:
    """Garrison: security operations for organisations with a small team and many attackers."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("weasyprint", "fontTools"):  # their INFO is a log of every typesetting step
        logging.getLogger(noisy).setLevel(logging.ERROR)
    ctx.obj = make_context(config_path, data_dir)


for module in (ingest, search, quarantine, serve, store, tokens, rules, detections, decisions, evaluate, incidents,
               simulate, report, users):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except GarrisonError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
