"""What every command needs: the config, the state database and the event store."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sys
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from garrison.config import Config, load_config
from garrison.errors import GarrisonError
from garrison.store import EventStore, open_state


@dataclass
class Context:
    config: Config

    @cached_property
    def engine(self) -> Engine:
        return open_state(self.config.state_url or self.config.data_path)

    @cached_property
    def store(self) -> EventStore:
        s = self.config.store
        return EventStore(self.config.data_path, self.engine, s.compression_level, s.write_compression_level,
                          s.quarantine_raw_bytes, by_org=s.by_organization)


console = Console(stderr=True)
out = Console()


def make_context(config_path: str | None, data_dir: str | None) -> Context:
    try:
        return Context(load_config(config_path, data_dir=data_dir))
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e


pass_ctx = click.make_pass_decorator(Context)


def json_line(obj: Any) -> None:
    """One JSON value on its own line: keys of any type (database column names are str subclasses), values
    orjson can't write as their text."""
    sys.stdout.write(orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")


def fitted(title: str | None, columns: list[str], rows: list[list[str]], text: tuple[str, ...] = ()) -> Table:
    """A table for the terminal (80 columns and up): identifiers (every column not in ``text``) are never
    wrapped or cut, so an address or an id can be copied; ``text`` columns (titles, reasons) share what width
    is left and end in an ellipsis."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    fixed = sum(w for c, w in zip(columns, widths) if c not in text) + 3 * len(columns) + 1
    spare = max(8 * len(text), out.size.width - fixed) // max(1, len(text))
    t = Table(title=title, title_justify="left")
    for c, w in zip(columns, widths):
        if c in text:
            t.add_column(c, no_wrap=True, overflow="ellipsis", max_width=max(8, min(w, spare)))
        else:
            t.add_column(c, no_wrap=True, min_width=w)
    for r in rows:
        t.add_row(*r)
    return t
