"""Sources: where raw records come from (files, syslog, HTTP/HEC, pulled APIs). Each yields RawRecord.

A long-running source (a listener, a connector) is a component: registered under a name with
``@source``, built from the configuration by ``build_sources`` and supervised by the service, which
restarts it when it stops and reports its ``view()`` on ``/healthz``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from garrison.config import Config
from garrison.model import RawRecord

Sink = Callable[[list[RawRecord]], object]


@dataclass(frozen=True)
class Sinks:
    """Where a source hands its records: ``stream`` is fsynced within moments (syslog's way); ``durable``
    returns only once they are on disk (HTTP ingest, pulled APIs, whose checkpoint must not run ahead)."""
    stream: Sink
    durable: Sink


class Source(Protocol):
    name: str

    async def start(self) -> None:
        """Begin taking input; raises OSError or GarrisonError when it can't."""

    def running(self) -> bool:
        """Whether it still takes input."""

    def view(self) -> dict[str, Any]:
        """Counters for the health page; a "problems" list there makes /healthz fail."""

    async def close(self) -> None: ...


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Stop a source's task and wait for it; an error it ended with is already on its status."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing
        pass


SourceFactory = Callable[[Config, Sinks], list[Source]]
SOURCES: dict[str, SourceFactory] = {}


def source(kind: str) -> Callable[[SourceFactory], SourceFactory]:
    """Register a factory that returns the sources of ``kind`` the configuration asks for (maybe none)."""

    def register(factory: SourceFactory) -> SourceFactory:
        SOURCES[kind] = factory
        return factory

    return register


def build_sources(config: Config, sinks: Sinks) -> list[Source]:
    """Every configured source, in registry order. A sink raises Unavailable when it can't take records."""
    import garrison.sources.imap  # noqa: F401 - each registers itself
    import garrison.sources.microsoft  # noqa: F401
    import garrison.sources.syslog  # noqa: F401

    return [s for factory in SOURCES.values() for s in factory(config, sinks)]
