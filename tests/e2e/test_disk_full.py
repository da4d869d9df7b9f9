"""Issue 15: a full disk and a read-only disk during ingest lose no acknowledged event, and health says so.

The data directory is a small tmpfs the test mounts (the tests run as root, as CI does). Senders post
NDJSON with a unique marker per event and keep the markers of every 200 answer; after the disk comes
back, every one of them must be stored exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, needs
import yaml

from garrison.store import EventStore, open_state
from garrison.store.search import search
from garrison.testing import free_port, wait_ready

pytestmark = needs(os.geteuid() != 0, "mounting a tmpfs needs root (CI runs as root)")


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        (pytest.fail if IN_CI else pytest.skip)(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], capture_output=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _remount(mnt: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], check=True)


class Sender:
    """Posts batches of marked events until stopped; keeps what was acknowledged and every status seen."""

    def __init__(self, url: str, token: str, prefix: str):
        self.url, self.token, self.prefix = url, token, prefix
        self.acked: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.retry_after: set[str] = set()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self.n = 0

    def _run(self) -> None:
        pad = "p" * 200
        with httpx.Client(timeout=30) as c:
            while not self._stop.is_set():
                batch = [f"{self.prefix}-{self.n + i}" for i in range(200)]
                body = "\n".join(f'{{"marker": "{m}", "ts": "2026-11-28T10:00:00Z", "pad": "{pad}"}}' for m in batch)
                try:
                    r = c.post(self.url, content=body, headers={"Authorization": f"Bearer {self.token}"})
                except httpx.HTTPError:
                    self.statuses[0] += 1
                    time.sleep(0.05)
                    continue
                self.statuses[r.status_code] += 1
                if r.status_code == 200:
                    self.acked.extend(batch)
                elif r.status_code == 503:
                    self.retry_after.add(r.headers.get("retry-after", ""))
                    time.sleep(0.05)
                self.n += 200

    def start(self) -> None:
        self._t.start()

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=60)


def _start(tmp_path: Path, data: Path, prefix: tuple[str, ...] = (), min_free: int = 0
           ) -> tuple[subprocess.Popen, str, str]:
    http = free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(data), "store": {"flush_seconds": 0.2, "batch_events": 5000},
        "service": {"commit_retry_max_seconds": 1.0},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_tcp": None, "syslog_udp": None, "min_free_bytes": min_free}}))
    token = subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "tokens", "add", "t"],
                           capture_output=True, text=True, check=True).stdout.strip()
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "garrison", "--config", str(cfg), "serve"],
                            stdout=open(tmp_path / "serve.log", "ab"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http}"
    wait_ready(base, 60)
    return proc, base, token


def _wait(cond, timeout: float, step: float = 0.2) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def _stored_markers(data: Path) -> Counter[str]:
    store = EventStore(data, open_state(data))
    return Counter(e["marker"] for e in search(store, "marker:*", limit=None).events)


def _check_exactly_once(data: Path, acked: list[str], log: Path) -> Counter[str]:
    want = set(acked)
    assert _wait(lambda: want <= set(_stored_markers(data)), 90, 1.0), log.read_text()[-3000:]
    found = _stored_markers(data)
    missing = [m for m in acked if not found[m]]
    dupes = [m for m, n in found.items() if n > 1]
    assert not missing and not dupes, (len(missing), missing[:3], dupes[:3])
    return found


def test_full_disk_loses_no_acknowledged_event(tmp_path, small_disk):
    proc, base, token = _start(tmp_path, small_disk)
    s = Sender(f"{base}/api/v1/ingest", token, "full")
    try:
        s.start()
        assert _wait(lambda: s.statuses[503] >= 5, 120), (s.statuses, (tmp_path / "serve.log").read_text()[-2000:])
        h = httpx.get(f"{base}/healthz")
        assert h.status_code == 503 and h.json()["status"] == "failing", h.text
        assert any("WAL" in p or "commit" in p for p in h.json()["problems"])
        acked_while_full = len(s.acked)
        _remount(small_disk, "size=256m")  # space freed
        assert _wait(lambda: len(s.acked) > acked_while_full + 5000, 120), s.statuses
        s.stop()
        found = _check_exactly_once(small_disk, s.acked, tmp_path / "serve.log")
        assert len(found) >= len(s.acked) and s.retry_after <= {"5", "30"}
        assert _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30)
        assert s.statuses[500] == 0 and s.statuses[0] == 0, s.statuses
        print(f"full disk: {len(s.acked):,} events acknowledged, {s.statuses[503]} batches answered 503, "
              f"none lost or doubled")
    finally:
        s.stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


# root without CAP_DAC_OVERRIDE obeys file modes, as an unprivileged service account does
UNPRIVILEGED = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def _chmod_tree(root: Path, writable: bool) -> None:
    subprocess.run(["chmod", "-R", "u+w" if writable else "a-w", str(root)], check=True)


def test_read_only_data_directory_is_reported_and_nothing_acknowledged_is_lost(tmp_path, small_disk):
    """The data directory turns read-only under a running server (it used to kill the processor while
    /healthz said ok): commits fail and are retried, health says so, and nothing acknowledged is lost."""
    # the WAL keeps taking records while commits fail; its reserve leaves the commits room to catch up
    _remount(small_disk, "size=160m")
    proc, base, token = _start(tmp_path, small_disk, UNPRIVILEGED, min_free=64 * 1024 * 1024)
    s = Sender(f"{base}/api/v1/ingest", token, "ro")
    try:
        s.start()
        assert _wait(lambda: len(s.acked) >= 2000, 60)
        _chmod_tree(small_disk, writable=False)
        assert _wait(lambda: httpx.get(f"{base}/healthz").status_code == 503, 60)
        body = httpx.get(f"{base}/healthz").json()
        assert any("commits are failing" in p and ("Permission" in p or "readonly" in p) for p in body["problems"]), body
        assert body["components"]["processor"]["commit_retries"] > 0
        before = len(s.acked)
        time.sleep(2)
        _chmod_tree(small_disk, writable=True)
        assert _wait(lambda: len(s.acked) > before + 2000, 90), s.statuses
        s.stop()
        _check_exactly_once(small_disk, s.acked, tmp_path / "serve.log")
        assert _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30)
        assert proc.poll() is None and s.statuses[500] == 0
        print(f"read-only: {len(s.acked):,} events acknowledged, none lost or doubled")
    finally:
        s.stop()
        _chmod_tree(small_disk, writable=True)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
