"""A worker of a scaled-out Garrison: takes records from the bus's partitions it owns, runs the pipeline, commits.

Ownership: workers heartbeat into the shared state database; the live ones, sorted, share the partitions
round-robin, and each claims its share through a lease row (taken only when free, expired or its own). A
worker that stops heartbeating loses its partitions when its leases expire (``bus.lease_seconds``); JetStream
delivers what it had not acknowledged again (``bus.ack_wait_seconds``) to the new owner.

Exactly once in the store: every record carries an id; the ``once`` stage drops ids already stored, and the
commit that stores a batch saves its ids, checks under the commit lock that the leases of its partitions are
still this worker's (a worker that lost a partition while busy cannot commit it), and only then are the
messages acknowledged. A record delivered and not committed ``MAX_DELIVERIES`` times is quarantined.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select, update

from garrison.model import RawRecord, Reject
from garrison.model.batch import Batch
from garrison.pipeline import handoff
from garrison.pipeline.guard import describe, run_stage
from garrison.pipeline.handoff import Handoffs, correlation_of
from garrison.pipeline.pipeline import Pipeline
from garrison.pipeline.processor import TRANSIENT
from garrison.pipeline.runner import commit_batch
from garrison.store import state_bus as B
from garrison.store.bus import Bus, Delivery
from garrison.store.events import EventStore
from garrison.store.upsert import upsert

log = logging.getLogger("garrison.worker")
MAX_DELIVERIES = 5


class LeaseLost(Exception):
    """A partition of this batch is no longer this worker's: the batch is left for its new owner."""


def _now() -> int:
    return int(time.time() * 1_000_000)


class Leases:
    """Partition leases in the shared state database.

    The heartbeat thread renews what this worker holds and claims its share when free; giving a partition up
    is done by the worker thread between batches (``release``), after its messages were acknowledged or
    given back, so a partition changes hands with nothing of it in flight. A partition whose owner died
    is claimed when the lease runs out, and read only after ``ack_wait`` more (``settle_at``): by then the
    dead worker's messages are due again, and they come before newer ones."""

    def __init__(self, engine: Engine, name: str, partitions: int, lease_seconds: float, ack_wait_seconds: float):
        self.engine, self.name, self.partitions = engine, name, partitions
        self.ttl = int(lease_seconds * 1_000_000)
        self.ack_wait = int(ack_wait_seconds * 1_000_000)
        self.owned: set[int] = set()  # held now, including those to be given up between batches
        self.unwanted: set[int] = set()
        self.settle_at: dict[int, int] = {}  # epoch us from which a partition taken over may be read
        self.live: list[str] = []
        self.started = _now()
        self._lock = threading.Lock()

    def renew(self) -> set[int]:
        """Heartbeat, renew what is held, claim this worker's share of the partitions where free."""
        now = _now()
        lease = B.bus_leases.c
        with self._lock, self.engine.begin() as c:
            upsert(c, B.bus_workers, [{"name": self.name, "seen_at": now, "started_at": self.started}], ["name"],
                   ["seen_at"])
            upsert(c, B.bus_leases, [{"partition": p, "owner": None, "expires_at": 0} for p in range(self.partitions)],
                   ["partition"])
            self.live = sorted(r[0] for r in c.execute(select(B.bus_workers.c.name)
                                                       .where(B.bus_workers.c.seen_at > now - self.ttl)))
            me = self.live.index(self.name) if self.name in self.live else 0
            want = {p for p in range(self.partitions) if p % max(1, len(self.live)) == me}
            c.execute(update(B.bus_leases).where(lease.owner == self.name, lease.expires_at > 0)
                      .values(expires_at=now + self.ttl))
            rows = {r.partition: r for r in c.execute(select(B.bus_leases))}
            held = {p for p, r in rows.items() if r.owner == self.name and r.expires_at > now}
            for p in sorted(want - held):
                r = rows.get(p)
                if r is None or (r.owner is not None and r.expires_at >= now):
                    continue  # its owner still has it (and gives it up between two of its batches)
                res = c.execute(update(B.bus_leases).where(lease.partition == p, lease.expires_at == r.expires_at,
                                                           lease.owner.is_(None) if r.owner is None
                                                           else lease.owner == r.owner)
                                .values(owner=self.name, expires_at=now + self.ttl))
                if res.rowcount:
                    held.add(p)
                    died = r.owner not in (None, self.name) and r.expires_at > 0
                    self.settle_at[p] = r.expires_at + self.ack_wait if died else 0
            self.owned, self.unwanted = held, held - want
        return held

    def release(self, partitions: set[int]) -> None:
        """Between batches: give these up now (nothing of them is in flight here)."""
        if not partitions:
            return
        with self._lock, self.engine.begin() as c:
            c.execute(update(B.bus_leases).where(B.bus_leases.c.partition.in_(sorted(partitions)),
                                                 B.bus_leases.c.owner == self.name).values(expires_at=0))
            self.owned = self.owned - partitions
            self.unwanted = self.unwanted - partitions

    def check(self, c: Any, partitions: set[int]) -> None:
        """Inside the commit: every partition of the batch is still leased to this worker."""
        lease = B.bus_leases.c
        held = {r[0] for r in c.execute(select(lease.partition).where(
            lease.partition.in_(sorted(partitions)), lease.owner == self.name, lease.expires_at > _now()))}
        if held != partitions:
            raise LeaseLost(f"partitions {sorted(partitions - held)} passed to another worker")

    def leave(self) -> None:
        with self.engine.begin() as c:
            c.execute(update(B.bus_leases).where(B.bus_leases.c.owner == self.name).values(expires_at=0))
            c.execute(B.bus_workers.delete().where(B.bus_workers.c.name == self.name))


class BusWorker(threading.Thread):
    """The worker role's processor: the same attributes the service's supervisor and /healthz read."""

    def __init__(self, build: Callable[[], Pipeline], store: EventStore, bus: Bus, leases: Leases, batch_records: int,
                 retry_max_seconds: float = 30.0, warm_minutes: float = 1440.0):
        super().__init__(name="garrison-worker", daemon=True)
        self.build, self.store, self.bus, self.leases = build, store, bus, leases
        self.handoffs = Handoffs(leases.engine, leases.partitions)
        self.pipeline = self._routed()
        self.warm_minutes = warm_minutes
        self.replayed = 0
        self.batch_records, self.retry_max = batch_records, retry_max_seconds
        self._stop_evt = threading.Event()
        self.error: BaseException | None = None
        self.state = "starting"
        self.last_error: str | None = None
        self.commits = self.retries = self.quarantined_crashes = self.records = self.lost_leases = 0
        self.offset = 0  # no WAL: kept for the health page's shape
        self.busy_since: float | None = None
        self.heartbeat = self.last_commit_at = self.last_take_at = time.monotonic()
        self._following: set[int] = set()
        self._stale = False
        self._takes = 0

    def stop(self) -> None:
        self._stop_evt.set()

    def _routed(self) -> Pipeline:
        """A new pipeline whose correlations not grouped by the partition key hand their hits on (handoff.py)."""
        p = self.build()
        corr = correlation_of(p)
        if corr is not None:
            corr.hand_off_unless("source.ip")
        return p

    def run(self) -> None:
        self.state = "running"
        beat = threading.Thread(target=self._heartbeats, name="garrison-leases", daemon=True)
        try:
            self.leases.renew()
            beat.start()
            while not self._stop_evt.is_set():
                self.heartbeat = time.monotonic()
                self._follow_leases()
                t0 = time.perf_counter()
                deliveries = self.bus.fetch(self.batch_records, wait=0.5, not_before=self.leases.settle_at)
                t1 = time.perf_counter()
                if deliveries:
                    self._handle(deliveries)
                    log.debug("batch: %d messages, fetched in %.3fs, handled in %.3fs", len(deliveries), t1 - t0,
                              time.perf_counter() - t1)
                if not self._stale:
                    self._take()
            self.state = "stopped"
        except BaseException as e:  # the supervisor restarts it, or stops the server
            log.exception("worker failed")
            self.error, self.last_error, self.state = e, describe(e), "failed"
        finally:
            self._stop_evt.set()
            if beat.is_alive():
                beat.join(5)
            try:
                self.leases.leave()
            except Exception as e:  # noqa: BLE001 - the leases expire by themselves
                log.warning("leases not given back (%s); they expire in %.0fs", describe(e), self.leases.ttl / 1e6)

    def _heartbeats(self) -> None:
        """Leases are renewed on their own thread: a long batch must not look like a dead worker."""
        while not self._stop_evt.wait(self.leases.ttl / 4e6):
            try:
                self.leases.renew()
            except Exception as e:  # noqa: BLE001 - the database is away: the leases run out, commits are refused
                log.warning("lease renewal failed: %s", describe(e))

    def _follow_leases(self) -> None:
        """Between batches: give up what another worker should have, pull from exactly the partitions held.
        Taking a partition over, the worker starts from fresh state and replays what is stored of its
        partitions (``_replay``)."""
        self.leases.release(set(self.leases.unwanted))
        owned = set(self.leases.owned)
        if owned != self._following:
            log.info("worker %s owns partitions %s of %d (live workers: %s)", self.leases.name, sorted(owned),
                     self.leases.partitions, ", ".join(self.leases.live))
            self.bus.own(owned)
            self.handoffs.load_marks(owned)
            if owned - self._following:
                self._stale = True
            self._following = owned
        if self._stale:
            self._replay(owned)

    def _replay(self, partitions: set[int]) -> None:
        """Correlation windows, scanners' counts and the like live in memory: rebuild them as they were by
        running the stored tail of these partitions through a new pipeline's stages (detections discarded,
        nothing stored). Also after a batch was given up, whose records the old state had already counted."""
        from garrison.pipeline.components import OnceStage
        from garrison.store.search import partition_tail

        t0 = time.perf_counter()
        self.pipeline = self._routed()
        window = self.warm_minutes * 60_000_000
        for st in self.pipeline.stages:
            corr = getattr(getattr(st, "engine", None), "correlation", None)
            for c in getattr(corr, "correlations", []):
                window = max(window, 2 * c.span_us)
        events = partition_tail(self.store, sorted(partitions), int(window))
        for i in range(0, len(events), 20_000):
            batch = Batch(events[i:i + 20_000], [])
            for st in self.pipeline.stages:
                if not isinstance(st, OnceStage):
                    run_stage(st, batch, self.pipeline.failures)
        corr = correlation_of(self.pipeline)
        if corr is not None:  # the correlations kept here for other partitions' hits: those read already
            corr.handed.clear()
            old = self.handoffs.read(partitions, upto=True)
            newest = max((r.ts for r in old), default=0)
            self.handoffs.feed(corr, [r for r in old if r.ts >= newest - window])
            corr.handed.clear()
            self.handoffs.load_marks(partitions)
        self.replayed += len(events)
        self._stale = False
        log.info("worker %s replayed %d stored events of partitions %s in %.1fs to rebuild its state",
                 self.leases.name, len(events), sorted(partitions), time.perf_counter() - t0)

    def _handle(self, deliveries: list[Delivery]) -> None:
        records: list[RawRecord | Reject] = []
        for d in deliveries:
            if d.msg.metadata.num_delivered > MAX_DELIVERIES:
                self.quarantined_crashes += 1
                records += [Reject(r.source, f"delivered {d.msg.metadata.num_delivered} times without being "
                                             "committed; quarantined, not processed again", r.text or "", r.position)
                            if isinstance(r, RawRecord) else r for r in d.records]
            else:
                records += d.records
        self.busy_since = time.monotonic()
        try:
            self._commit(records, {d.partition for d in deliveries})
        except LeaseLost as e:
            self.lost_leases += 1
            log.warning("batch of %d records left for another worker: %s", len(records), e)
            self.bus.nak(deliveries)
            self._stale = True  # the state counted records that were not stored
            return
        finally:
            self.busy_since = None
        self.bus.ack(deliveries)
        self.records += len(records)
        self.last_commit_at = time.monotonic()

    def _take(self) -> None:
        """Hits other workers handed on for correlations whose groups this worker's partitions own: fed in
        event-time order; what fires is triaged and committed with how far it read."""
        corr = correlation_of(self.pipeline)
        owned = set(self._following)
        if corr is None or not owned:
            return
        got = self.handoffs.read(owned)
        if not got:
            self.last_take_at = time.monotonic()
            return
        corr.handed.clear()
        batch = Batch([], [], detections=self.handoffs.feed(corr, got))
        marks = self.handoffs.advance(got)
        for st in self.pipeline.stages:
            run_stage(st, batch, self.pipeline.failures)
        handed, parts = list(corr.handed), {r.partition for r in got}
        corr.handed.clear()
        self._takes += 1
        keep = max(r.ts for r in got) - int(self.warm_minutes * 60_000_000) if self._takes % 20 == 0 else None
        batch.in_commit[:0] = [lambda c: self.leases.check(c, parts), lambda c: handoff.write(c, handed, self.leases.partitions),
                               lambda c: Handoffs.save(c, {p: marks[p] for p in parts}, keep)]
        try:
            commit_batch(self.store, batch)
        except Exception as e:  # noqa: BLE001 - lease lost or the database away: rebuilt and read again
            log.warning("hand-offs of partitions %s not committed (%s); read again after a rebuild", sorted(parts), describe(e))
            self._stale = True
            self._stop_evt.wait(0.5)
            return
        self.handoffs.marks = marks
        self.last_take_at = time.monotonic()

    def _commit(self, records: list[RawRecord | Reject], partitions: set[int]) -> None:
        t0 = time.perf_counter()
        corr = correlation_of(self.pipeline)
        if corr is not None:
            corr.handed.clear()
        batch = self.pipeline.process(records)
        log.debug("processed %d records in %.3fs", len(records), time.perf_counter() - t0)
        batch.in_commit.insert(0, lambda c: self.leases.check(c, partitions))
        if corr is not None and corr.handed:
            handed = list(corr.handed)
            corr.handed.clear()
            batch.in_commit.append(lambda c: handoff.write(c, handed, self.leases.partitions))
        delay = 0.5
        while True:
            try:
                commit_batch(self.store, batch)
                break
            except LeaseLost:
                raise
            except TRANSIENT as e:
                self.retries += 1
                self.state, self.last_error = "retrying", f"commit failed, retrying: {describe(e)}"
                if self._stop_evt.wait(delay):
                    raise LeaseLost("stopped while retrying; the bus delivers the batch again") from e
                self.heartbeat = time.monotonic()
                delay = min(self.retry_max, delay * 2) * random.uniform(0.8, 1.2)
            except Exception as e:  # noqa: BLE001 - the data: find the record behind it
                self.last_error = f"commit refused a batch: {describe(e)}"
                if len(records) == 1:
                    r = records[0]
                    text = r.text if isinstance(r, RawRecord) else r.raw
                    self._commit([Reject(r.source, f"the store could not keep this record: {describe(e)}",
                                         text or "", getattr(r, "position", None))], partitions)
                    return
                half = len(records) // 2
                self._commit(records[:half], partitions)
                self._commit(records[half:], partitions)
                return
        self.commits += 1
        self.state = "running"
