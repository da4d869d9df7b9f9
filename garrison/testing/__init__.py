"""Helpers for tests, benchmarks and sample scripts that run a real ``garrison serve`` on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from garrison.model import RawRecord

__all__ = ["MemorySink", "MemorySource", "free_port", "stop_process", "wait_ready"]


def stop_process(proc: Any, timeout: float = 10) -> None:
    """Terminate a server process the tests started; kill it if it does not stop in time."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: it would not stop
        proc.kill()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    """Wait until ``garrison serve`` at ``url`` answers /healthz; TimeoutError if it doesn't in time."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            if httpx.get(url.rstrip("/") + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"garrison serve did not answer at {url} within {timeout:.0f}s (see its log)")


class MemorySource:
    """A source over lines or JSON objects held in memory: yields ``RawRecord`` as files and listeners do."""

    def __init__(self, items: Iterable[str | dict[str, Any]], source: str = "memory", fmt: str | None = None):
        self.items, self.source, self.fmt = list(items), source, fmt

    def __iter__(self) -> Iterator[RawRecord]:
        import orjson

        for i, it in enumerate(self.items, 1):
            if isinstance(it, dict):
                yield RawRecord(text=orjson.dumps(it).decode(), obj=it, source=self.source, position=i, format=self.fmt)
            else:
                yield RawRecord(text=it, source=self.source, position=i, format=self.fmt)

    def run(self, sink: Any) -> None:
        """Hand every record to ``sink`` (a ``Sink``: the WAL in ``garrison serve``, a ``MemorySink`` here)."""
        sink(list(self))


class MemorySink:
    """A ``Sink`` that keeps what it is given, in order, instead of writing the WAL."""

    def __init__(self) -> None:
        self.records: list[RawRecord] = []

    def __call__(self, records: list[RawRecord]) -> int:
        self.records.extend(records)
        return len(self.records)
