"""What every command needs: the config, the state database and the event store."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import click
from rich.console import Console
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
                          s.quarantine_raw_bytes)


console = Console(stderr=True)
out = Console()


def make_context(config_path: str | None, data_dir: str | None) -> Context:
    try:
        return Context(load_config(config_path, data_dir=data_dir))
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e


pass_ctx = click.make_pass_decorator(Context)
