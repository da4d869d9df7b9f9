"""The ``garrison`` command: one click group, one module per noun."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from garrison.cli._context import make_context
from garrison.errors import GarrisonError

# Each command's module, imported only when that command runs (or --help lists them all): the web console's and
# the reports' libraries cost a second of start-up that `garrison import` or `garrison ban` doesn't need.
# tests/test_cli_json.py checks this map against the modules' COMMANDS.
COMMANDS = {
    "import": "ingest", "search": "search", "quarantine": "quarantine", "serve": "serve", "store": "store",
    "tokens": "tokens", "hunt": "rules", "rules": "rules", "detections": "detections", "ban": "decisions",
    "unban": "decisions", "decisions": "decisions", "blocklist": "decisions", "bouncers": "decisions",
    "evaluate-suites": "evaluate", "incidents": "incidents", "suppressions": "incidents", "simulate": "simulate",
    "replay": "simulate", "evaluate": "simulate", "report": "report", "reports": "report", "users": "users",
    "connectors": "connectors", "act": "act", "mail": "mail", "campaigns": "campaigns", "training": "campaigns", "share": "share", "cluster": "share",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"garrison.cli.{COMMANDS[cmd_name]}")
        return next(c for c in module.COMMANDS if c.name == cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="GARRISON_CONFIG",
              help="YAML configuration file.")
@click.option("--data-dir", envvar="GARRISON_DATA_DIR", help="Data directory (default ./garrison-data).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, data_dir: str | None, verbose: bool) -> None:
    """Garrison: security operations for organisations with a small team and many attackers."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("weasyprint", "fontTools", "alembic"):  # their INFO is a log of every step (typesetting, plugins)
        logging.getLogger(noisy).setLevel(logging.ERROR)
    ctx.obj = make_context(config_path, data_dir)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except GarrisonError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
