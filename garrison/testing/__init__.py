"""Helpers for tests, benchmarks and sample scripts that run a real ``garrison serve`` on loopback."""

from __future__ import annotations

import socket
import time

import httpx

__all__ = ["free_port", "wait_ready"]


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
