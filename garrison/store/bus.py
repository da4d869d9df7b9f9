"""The bus between ingest and workers when Garrison is scaled out: a NATS JetStream stream (``nats-py``).

An ingest node publishes each accepted batch, grouped by partition, and answers its client only once
JetStream has acknowledged every message (file storage: the write is on the NATS server's disk). A message
carries ``Nats-Msg-Id`` so that a publish retried after a lost answer is stored once. Each record gets an id
(``<message id>:<n>``) that travels with it to the store, where it makes a redelivered record a duplicate.

Partition: a hash of the organisation and the record's entity, which the ingest node finds by parsing it
(its source address, else its user, else its host); without one, the first IP address in its text, or its
source. The same attacker's records therefore go to one partition, owned by one worker at a time, where the
state of its correlations lives.

nats-py is asyncio; Garrison's ingest handlers and workers are threads, so the connection lives on an event
loop in its own thread and the methods here block until their coroutine is done.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig

from garrison.config import BusConfig
from garrison.errors import Unavailable
from garrison.model import RawRecord, Reject
from garrison.store.wal import decode_record, encode_record

_IP = re.compile(rb"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])|(?<![:\w])(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")
KEY_SCAN_BYTES = 2048  # the partition key is looked for in a record's first bytes only


def partition_of(org: str, payload: bytes, source: str, partitions: int, key: bytes | None = None) -> int:
    if key is None:
        m = _IP.search(payload[:KEY_SCAN_BYTES])
        key = m.group(0) if m else source.encode("utf-8", "replace")
    h = hashlib.blake2b(org.encode("utf-8", "replace") + b"\0" + key, digest_size=8).digest()
    return int.from_bytes(h, "big") % partitions


def subject_org(org: str) -> str:
    """An organisation as one subject token (NATS tokens can't hold '.', '*', '>' or spaces)."""
    safe = _SAFE.sub("_", org)[:48] or "default"
    return safe if safe == org else f"{safe}-{hashlib.sha256(org.encode()).hexdigest()[:8]}"


def decode_message(data: bytes, msg_id: str, subject: str, partition: int) -> list[RawRecord | Reject]:
    """A bus message's records, each given its id and partition; a line that is not a record is a reject
    naming the message and the line (nothing is dropped)."""
    recs: list[RawRecord | Reject] = []
    for i, line in enumerate(data.split(b"\n")):
        try:
            r = decode_record(line)
        except ValueError as e:
            recs.append(Reject(f"bus:{subject}", f"message {msg_id}, record {i}: {e}",
                               line[:4096].decode("utf-8", "replace"), i + 1))
            continue
        r.meta = dict(r.meta) if isinstance(r.meta, dict) else {}
        r.meta.setdefault("record_id", f"{msg_id}:{i}")
        r.meta["partition"] = partition
        r.meta.setdefault("stream", "bus")
        recs.append(r)
    return recs


@dataclass
class Delivery:
    """One message a worker fetched: its records (already given their ids) and how to acknowledge it."""
    partition: int
    records: list[RawRecord | Reject]
    msg: Any


class Bus:
    def __init__(self, cfg: BusConfig, node: str):
        self.cfg, self.node = cfg, node
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="garrison-bus", daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._subs: dict[int, Any] = {}
        self.published = self.publish_failures = 0
        self.last_error: str | None = None

    # -- plumbing -------------------------------------------------------------------------
    def _run(self, coro: Any, timeout: float) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def connect(self, timeout: float = 30.0) -> None:
        """Connect, and create the stream if it does not exist (every node may: the call is idempotent)."""
        self._run(self._connect(), timeout)

    async def _connect(self) -> None:
        servers = [u.strip() for u in self.cfg.url.split(",") if u.strip()]
        self._nc = await nats.connect(servers=servers, name=f"garrison-{self.node}", max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.5, connect_timeout=5)
        self._js = self._nc.jetstream(timeout=self.cfg.publish_timeout_seconds)
        sc = StreamConfig(name=self.cfg.stream, subjects=[f"{self.cfg.subject}.>"], storage=StorageType.FILE,
                          retention=RetentionPolicy.LIMITS, num_replicas=self.cfg.replicas,
                          max_age=self.cfg.max_age_days * 86400, duplicate_window=120.0)
        try:
            await self._js.stream_info(self.cfg.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(sc)

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def close(self) -> None:
        if self._nc is not None:
            try:
                self._run(self._nc.close(), 10)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- ingest ------------------------------------------------------------------------------
    def publish(self, records: list[RawRecord], org: str, keys: list[str] | None = None) -> int:
        """Publish ``records``; returns once JetStream acknowledged all. ``Unavailable`` (503) otherwise.

        ``keys``: each record's entity (its parsed source address, say); without them, the first address in
        its text, else its source."""
        if not records:
            return 0
        groups: dict[int, list[bytes]] = defaultdict(list)
        for i, r in enumerate(records):
            payload = encode_record(r)
            key = keys[i].encode("utf-8", "replace") if keys is not None else None
            groups[partition_of(org, payload, r.source, self.cfg.partitions, key)].append(payload)
        messages: list[tuple[str, bytes, str]] = []
        for p, payloads in groups.items():
            chunk: list[bytes] = []
            size = 0
            for pl in payloads:
                if chunk and size + len(pl) > self.cfg.max_message_bytes:
                    messages.append(self._message(org, p, chunk))
                    chunk, size = [], 0
                chunk.append(pl)
                size += len(pl) + 1
            messages.append(self._message(org, p, chunk))
        try:
            self._run(self._publish_all(messages), self.cfg.publish_timeout_seconds * 2)
        except Exception as e:  # noqa: BLE001 - nothing was acknowledged to the client: it sends again
            self.publish_failures += 1
            self.last_error = f"JetStream did not acknowledge: {e!r}"
            raise Unavailable(f"the bus did not acknowledge the records ({type(e).__name__}); send them again",
                              retry_after=2) from e
        self.published += len(records)
        return len(records)

    def _message(self, org: str, p: int, payloads: list[bytes]) -> tuple[str, bytes, str]:
        return f"{self.cfg.subject}.{subject_org(org)}.{p}", b"\n".join(payloads), f"{self.node}:{uuid.uuid4().hex}"

    async def _publish_all(self, messages: list[tuple[str, bytes, str]]) -> None:
        acks = await asyncio.gather(*(self._js.publish(s, body, headers={"Nats-Msg-Id": mid})
                                      for s, body, mid in messages))
        if any(a.stream != self.cfg.stream for a in acks):
            raise RuntimeError("a message was stored in another stream")

    # -- workers -----------------------------------------------------------------------------
    def own(self, partitions: set[int]) -> None:
        """Pull from exactly these partitions (a durable consumer each, shared by whichever worker owns it)."""
        self._run(self._own(partitions), 30)

    async def _own(self, partitions: set[int]) -> None:
        for p in set(self._subs) - partitions:
            sub = self._subs.pop(p)
            await sub.unsubscribe()  # the durable consumer stays; its unacknowledged messages come back
        for p in sorted(partitions - set(self._subs)):
            cc = ConsumerConfig(durable_name=f"part-{p}", ack_policy=AckPolicy.EXPLICIT,
                                deliver_policy=DeliverPolicy.ALL, ack_wait=self.cfg.ack_wait_seconds,
                                max_ack_pending=100_000, filter_subject=f"{self.cfg.subject}.*.{p}")
            self._subs[p] = await self._js.pull_subscribe(f"{self.cfg.subject}.*.{p}", durable=f"part-{p}",
                                                          stream=self.cfg.stream, config=cc)

    def fetch(self, max_records: int, wait: float = 1.0, not_before: dict[int, int] | None = None) -> list[Delivery]:
        """Up to about ``max_records`` records from the partitions pulled, in order within each; a partition
        is skipped until its ``not_before`` (epoch us)."""
        return self._run(self._fetch(max_records, wait, not_before or {}), wait + 30)  # type: ignore[no-any-return]

    async def _fetch(self, max_records: int, wait: float, not_before: dict[int, int]) -> list[Delivery]:
        now = time.time() * 1_000_000
        out: list[Delivery] = []
        n = 0
        for attempt in range(2):
            for p, sub in list(self._subs.items()):
                if n >= max_records:
                    break
                if not_before.get(p, 0) > now:
                    continue  # taken over from a worker that died: its messages are not due again yet
                try:
                    msgs = await sub.fetch(batch=64, timeout=wait if attempt else 0.05)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                for m in msgs:
                    recs = self._records(m, p)
                    out.append(Delivery(p, recs, m))
                    n += len(recs)
            if out or not self._subs:
                break
        out.sort(key=lambda d: d.msg.metadata.sequence.stream)  # publish order across the partitions held
        return out

    @staticmethod
    def _records(m: Any, p: int) -> list[RawRecord | Reject]:
        mid = (m.headers or {}).get("Nats-Msg-Id") or f"seq{m.metadata.sequence.stream}"
        return decode_message(m.data, str(mid), m.subject, p)

    def ack(self, deliveries: list[Delivery]) -> None:
        self._run(self._ack(deliveries), 30)

    @staticmethod
    async def _ack(deliveries: list[Delivery]) -> None:
        await asyncio.gather(*(d.msg.ack() for d in deliveries))

    def nak(self, deliveries: list[Delivery]) -> None:
        """Give messages back at once (their partition moved): the new owner need not wait for ack_wait."""
        self._run(self._nak(deliveries), 30)

    @staticmethod
    async def _nak(deliveries: list[Delivery]) -> None:
        await asyncio.gather(*(d.msg.nak() for d in deliveries))

    def pending(self) -> dict[int, int]:
        """Records not yet acknowledged per owned partition: waiting plus delivered-unacknowledged messages."""
        return self._run(self._pending(), 10)  # type: ignore[no-any-return]

    async def _pending(self) -> dict[int, int]:
        out = {}
        for p in list(self._subs):
            info = await self._js.consumer_info(self.cfg.stream, f"part-{p}")
            out[p] = int(info.num_pending) + int(info.num_ack_pending)
        return out
