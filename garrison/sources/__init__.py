"""Sources: where raw records come from (files, syslog, HTTP/HEC, pulled APIs). Each yields RawRecord.

A long-running source (a listener, a connector) is a component: registered under a name with
``@source``, built from the configuration by ``build_sources`` and supervised by the service, which
restarts it when it stops and reports its ``view()`` on ``/healthz``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from garrison.config import Config
from garrison.model import RawRecord

Sink = Callable[[list[RawRecord]], object]


class Source(Protocol):
    name: str

    async def start(self) -> None:
        """Begin taking input; raises OSError or GarrisonError when it can't."""

    def running(self) -> bool:
        """Whether it still takes input."""

    def view(self) -> dict[str, Any]:
        """Counters for the health page."""

    async def close(self) -> None: ...


SourceFactory = Callable[[Config, Sink], list[Source]]
SOURCES: dict[str, SourceFactory] = {}


def source(kind: str) -> Callable[[SourceFactory], SourceFactory]:
    """Register a factory that returns the sources of ``kind`` the configuration asks for (maybe none)."""

    def register(factory: SourceFactory) -> SourceFactory:
        SOURCES[kind] = factory
        return factory

    return register


def build_sources(config: Config, sink: Sink) -> list[Source]:
    """Every configured source, in registry order. ``sink`` takes records durably (or raises Unavailable)."""
    import garrison.sources.syslog  # noqa: F401 - registers itself

    return [s for factory in SOURCES.values() for s in factory(config, sink)]
