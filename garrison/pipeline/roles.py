"""``garrison serve --role ingest|worker``: the supervised service of ``service.py``, its WAL replaced by the bus.

- ingest: listeners and HTTP/HEC as always; a batch is answered only when JetStream has acknowledged it.
  Its "processor" watches the bus connection.
- worker: no listeners; its processor takes the partitions it owns from the bus (``worker.py``). It serves
  /healthz (and the console, if wanted) on its own ``ingest.http`` address.

Both keep a node-local WAL folder only for the service's disk checks: nothing is written to it.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from typing import Any

from sqlalchemy import Engine

from garrison.config import Config
from garrison.errors import ConfigError
from garrison.model import RawRecord
from garrison.pipeline.components import make_deps
from garrison.pipeline.pipeline import _assemble
from garrison.pipeline.runner import build_live_pipeline
from garrison.pipeline.service import Service
from garrison.pipeline.worker import BusWorker, Leases
from garrison.store.bus import Bus
from garrison.store.events import EventStore

log = logging.getLogger("garrison.roles")
ROLES = ("all", "ingest", "worker")


def node_name(config: Config, role: str) -> str:
    return f"{role}-{socket.gethostname()}-{config.ingest.http.rpartition(':')[2]}"


def make_service(config: Config, engine: Engine, store: EventStore, role: str = "all") -> Service:
    if role == "all":
        return Service(config, engine, store)
    if not config.bus.url:
        raise ConfigError(f"--role {role} needs bus.url (the NATS JetStream servers); without it, run one "
                          "garrison serve (role all)")
    if engine.dialect.name == "sqlite":
        log.warning("--role %s with SQLite state: fine on one machine; nodes on several need state_url "
                    "(PostgreSQL)", role)
    return (IngestService if role == "ingest" else WorkerService)(config, engine, store)


class _BusService(Service):
    role = "all"

    def __init__(self, config: Config, engine: Engine, store: EventStore):
        self.node = node_name(config, self.role)
        self.shared = config
        self.bus = Bus(config.bus, self.node)
        self.bus.connect()
        local = config.data_path / "nodes" / self.node
        # the service's WAL (kept empty) lives in the node's own folder; the data dir is shared
        super().__init__(dataclasses.replace(config, data_dir=str(local)), engine, store)
        self.cfg = config

    def health(self) -> tuple[int, dict[str, Any]]:
        code, body = super().health()
        problems = body["problems"]
        if not self.bus.connected:
            problems.append(f"the bus ({self.cfg.bus.url}) is not connected")
        body["components"]["bus"] = {"state": "running" if self.bus.connected else "failed", "node": self.node,
                                     "role": self.role, "published": self.bus.published,
                                     "publish_failures": self.bus.publish_failures, "last_error": self.bus.last_error}
        body["role"] = self.role
        body["status"] = "failing" if problems else "ok"
        return (503 if problems else 200), body

    async def run(self, app: Any, monthly: Any = None, minutely: Any = None) -> int:
        try:
            return await super().run(app, monthly, minutely)
        finally:
            self.bus.close()


class _Watch(threading.Thread):
    """The ingest role's processor: nothing to process here; it is alive while the node is."""

    def __init__(self, bus: Bus):
        super().__init__(name="garrison-bus-watch", daemon=True)
        self.bus = bus
        self._stop_evt = threading.Event()
        self.state, self.last_error, self.error = "running", None, None
        self.offset = self.commits = self.retries = self.quarantined_crashes = 0
        self.busy_since: float | None = None
        self.pipeline = type("P", (), {"failures": type("F", (), {"batches": {}, "events": {}})()})()

    def run(self) -> None:  # the bus's own state is reported by the node's health (component "bus")
        self._stop_evt.wait()

    def stop(self) -> None:
        self._stop_evt.set()


class Partitioner:
    """The entity a record is about, for its partition: the parser's view of it (the worker parses again)."""

    ENTITY = ("source.ip", "user.name", "host.name")

    def __init__(self, config: Config):
        self.pipeline = _assemble(config, make_deps(config, None), [])
        self.lock = threading.Lock()  # parse states are per source and not shared between threads

    def key(self, rec: RawRecord) -> str:
        try:
            with self.lock:
                ev = self.pipeline._parse(rec, None)
        except Exception:  # noqa: BLE001 - the worker quarantines it; here it only needs a partition
            ev = None
        for f in self.ENTITY:
            if ev and ev.get(f):
                return f"{f}={ev[f]}"
        return f"source={rec.source}"


class IngestService(_BusService):
    role = "ingest"

    def durable_sink(self, records: list[RawRecord]) -> int:
        if not hasattr(self, "partitioner"):
            self.partitioner = Partitioner(self.shared)
        by_org: dict[str, list[RawRecord]] = {}
        for r in records:
            by_org.setdefault(str(r.meta.get("org") or self.cfg.organization), []).append(r)
        return sum(self.bus.publish(rs, org, [self.partitioner.key(r) for r in rs]) for org, rs in by_org.items())

    stream_sink = durable_sink  # syslog too: the bus's acknowledgement is the only durability there is here

    def _new_processor(self) -> Any:
        return _Watch(self.bus)


class WorkerService(_BusService):
    role = "worker"

    def _build_sources(self) -> list[Any]:
        return []  # listeners and connectors run on ingest nodes

    async def run(self, app: Any, monthly: Any = None, minutely: Any = None) -> int:
        """Scheduled work (reports, awareness sending, the cluster exchange) runs on one worker: partition 0's."""
        def first(fn: Any) -> Any:
            def run_if_first(engine: Engine, config: Config) -> None:
                leases = getattr(self.processor, "leases", None)
                if leases is not None and 0 in leases.owned:
                    fn(engine, config)
            return None if fn is None else run_if_first
        return await super().run(app, first(monthly), first(minutely))

    def _new_processor(self) -> Any:
        cfg = self.shared  # rules, intel and the event store are the shared data dir's
        leases = Leases(self.engine, self.node, cfg.bus.partitions, cfg.bus.lease_seconds, cfg.bus.ack_wait_seconds)
        return BusWorker(lambda: build_live_pipeline(cfg, self.engine, self.notifier), self.store, self.bus, leases,
                         cfg.bus.fetch_records, cfg.service.commit_retry_max_seconds, cfg.bus.warm_minutes)

    def health(self) -> tuple[int, dict[str, Any]]:
        code, body = super().health()
        w = self.processor
        problems = body["problems"]
        pending: dict[int, int] = {}
        try:
            pending = self.bus.pending() if isinstance(w, BusWorker) else {}
        except Exception as e:  # noqa: BLE001 - shown, not raised
            pending, problems = {}, problems + [f"the bus cannot be asked for pending records: {e!r}"]
            body["problems"] = problems
        waiting = sum(pending.values())
        idle = time.monotonic() - w.last_commit_at if isinstance(w, BusWorker) else 0.0
        if waiting and idle > self.cfg.service.max_lag_seconds:
            problems.append(f"{waiting:,} messages wait in partitions {sorted(p for p, n in pending.items() if n)} "
                            f"and nothing was committed for {idle:.0f}s")
        if isinstance(w, BusWorker):
            handed = w.handoffs.waiting(set(w.leases.owned))
            if handed and time.monotonic() - w.last_take_at > self.cfg.service.max_lag_seconds:
                problems.append(f"{handed:,} correlation hits handed on by other workers wait, and none were taken "
                                f"for {time.monotonic() - w.last_take_at:.0f}s")
            body["components"]["processor"].update(records=w.records, owned_partitions=sorted(w.leases.owned),
                                                   handoffs_waiting=handed, handoffs_taken=w.handoffs.taken,
                                                   replayed=w.replayed,
                                                   live_workers=w.leases.live, pending_messages=pending,
                                                   lost_leases=w.lost_leases)
        body["status"] = "failing" if problems else "ok"
        return (503 if problems else 200), body
