"""A scaled-out Garrison on one machine for tests and ``bench/scale``: NATS, PostgreSQL, one ingest node and
workers, each ``garrison serve --role ...`` in its own process, sharing one data folder and one state URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from garrison.model import RawRecord
from garrison.testing import free_port, stop_process, wait_ready


@dataclass
class Node:
    role: str
    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Node:
        self.proc = subprocess.Popen([sys.executable, "-m", "garrison", "--config", str(self.config)]
                                     + (["-v"] if os.environ.get("GARRISON_NODE_DEBUG") else []) + ["serve",
                                      "--role", self.role], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, 30)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the node's process so far (from /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Deployment:
    root: Path
    nodes: list[Node] = field(default_factory=list)
    token: str = ""

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def node_config(root: Path, role: str, state_url: str | None, bus_url: str | None, **extra: Any) -> Node:
    """One node's YAML: the shared data folder and state, its own HTTP port, no syslog listeners."""
    port = free_port()
    cfg: dict[str, Any] = {"data_dir": str(root / "data"), "state_url": state_url,
                           "store": {"flush_seconds": 0.5, "by_organization": bool(bus_url)},
                           "ingest": {"http": f"127.0.0.1:{port}", "syslog_udp": None, "syslog_tcp": None},
                           "service": {"max_lag_seconds": 120}}
    if bus_url:
        cfg["bus"] = {"url": bus_url, "lease_seconds": 4, "ack_wait_seconds": 8}
    for k, v in extra.items():
        cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.__setitem__(k, v)
    path = root / f"{role}-{port}.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in cfg.items() if v is not None}))
    return Node(role, port, path, root / f"{role}-{port}.log")


def deploy(root: Path, state_url: str | None, bus_url: str | None, workers: int, **extra: Any) -> Deployment:
    """Start the nodes (an ingest node and ``workers`` workers, or one embedded node without a bus)."""
    root.mkdir(parents=True, exist_ok=True)
    d = Deployment(root)
    roles = ["ingest"] + ["worker"] * workers if bus_url else ["all"]
    d.nodes = [node_config(root, r, state_url, bus_url, **extra) for r in roles]
    d.token = subprocess.run([sys.executable, "-m", "garrison", "--config", str(d.nodes[0].config), "tokens", "add",
                              "loader"], capture_output=True, text=True, check=True).stdout.strip()
    for n in d.nodes:
        n.start()
    for n in d.nodes:
        wait_ready(n.url, 90)
    return d


def as_live(files: Iterable[Path], reference_us: int) -> list[tuple[str, str]]:
    """The files' lines as a live feed would bring them: merged in the order of their event times (each
    line's time as Garrison's parser reads it), with the file each came from."""
    from garrison.parse import ParseState, parse_record

    timed: list[tuple[int, int, str, str]] = []
    for f in files:
        st = ParseState(source=f.name, reference_us=reference_us)
        for line in f.read_text(errors="replace").splitlines():
            if line.strip():
                try:
                    ev = parse_record(RawRecord(text=line, source=f.name), st)
                except Exception:  # noqa: BLE001 - an unreadable line keeps its place at the start
                    ev = None
                ts = ev.get("@timestamp") if ev else None
                timed.append((ts if isinstance(ts, int) else 0, len(timed), line, f.name))
    return [(line, name) for _, _, line, name in sorted(timed)]


def hec_bodies(lines: Iterable[tuple[str, str]], per_request: int = 500) -> list[tuple[bytes, list[str]]]:
    """HEC request bodies over (line, source) pairs, each with the lines it carries."""
    out: list[tuple[bytes, list[str]]] = []
    chunk: list[tuple[str, str]] = []
    for line, name in lines:
        chunk.append((line, name))
        if len(chunk) == per_request:
            out.append(_body(chunk))
            chunk = []
    if chunk:
        out.append(_body(chunk))
    return out


def _body(chunk: list[tuple[str, str]]) -> tuple[bytes, list[str]]:
    return b"".join(orjson.dumps({"event": line, "source": name}) for line, name in chunk), [c[0] for c in chunk]


def send(url: str, token: str, bodies: list[tuple[bytes, list[str]]],
         on_sent: Callable[[int], None] | None = None) -> list[str]:
    """POST each body to HEC, retrying a 503 (busy) as a forwarder does; the lines acknowledged."""
    acked: list[str] = []
    with httpx.Client(timeout=60) as c:
        for i, (body, lines) in enumerate(bodies):
            for _ in range(120):
                r = c.post(f"{url}/services/collector/event", content=body,
                           headers={"Authorization": f"Splunk {token}"})
                if r.status_code == 200:
                    acked += lines
                    break
                if r.status_code != 503:
                    raise RuntimeError(f"HEC answered {r.status_code}: {r.text[:300]}")
                time.sleep(0.5)
            if on_sent is not None:
                on_sent(i + 1)
    return acked
