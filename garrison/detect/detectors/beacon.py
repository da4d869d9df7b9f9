"""Beaconing: an internal host calling the same outside address at a regular interval, as implants check in
with their command-and-control server.

Per (source, destination, port) the stage keeps the times of the last ``keep`` connections (Zeek conn, or
firewall 'allow' records). When at least ``min_count`` are on record, their intervals' median lies between
``min_interval_s`` and ``max_interval_s``, and the intervals vary by less than ``max_jitter`` of it
(coefficient of variation), the pair is reported, then left alone for ``quiet_hours``. DNS and NTP, whose
clients poll on a timer by design, are not considered. State is bounded (least recently seen pairs go).
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from typing import Any

from garrison.model.batch import Batch
from garrison.model.detection import Detection

TAGS = ["attack.command-and-control", "attack.t1071", "attack.t1573", "garrison.beaconing"]
SKIP_PORTS = frozenset((53, 123, 5353))


class BeaconStage:
    def __init__(self, min_count: int = 12, keep: int = 24, min_interval_s: float = 10, max_interval_s: float = 3600,
                 max_jitter: float = 0.1, quiet_hours: float = 6, max_pairs: int = 200_000):
        self.min_count, self.keep = min_count, keep
        self.lo, self.hi, self.jitter = min_interval_s * 1e6, max_interval_s * 1e6, max_jitter
        self.quiet = int(quiet_hours * 3_600_000_000)
        self.max_pairs = max_pairs
        self.pairs: OrderedDict[tuple[str, str, int], deque[int]] = OrderedDict()
        self.reported: dict[tuple[str, str, int], int] = {}

    def __call__(self, batch: Batch) -> None:
        conns = [ev for ev in batch.events if ev.get("event.category") == "network" and ev.get("destination.port")
                 and ev.get("garrison.source.zone") == "internal" and ev.get("garrison.destination.zone") == "external"
                 and ev.get("event.type") != "denied"]
        for ev in sorted(conns, key=lambda e: e.get("@timestamp") or 0):
            d = self.check(ev)
            if d is not None:
                batch.detections.append(d)

    def check(self, ev: dict[str, Any]) -> Detection | None:
        port, ts = ev.get("destination.port"), ev.get("@timestamp")
        if not isinstance(port, int) or port in SKIP_PORTS or not isinstance(ts, int):
            return None
        key = (str(ev["source.ip"]), str(ev.get("destination.ip")), port)
        times = self.pairs.get(key)
        if times is None:
            times = self.pairs[key] = deque(maxlen=self.keep)
            if len(self.pairs) > self.max_pairs:
                old, _ = self.pairs.popitem(last=False)
                self.reported.pop(old, None)
        else:
            self.pairs.move_to_end(key)
        if times and ts <= times[-1]:
            return None  # the same connection logged twice, or out of order
        times.append(ts)
        if len(times) < self.min_count or ts - self.reported.get(key, -self.quiet) < self.quiet:
            return None
        gaps = [b - a for a, b in zip(times, list(times)[1:])]
        mid = statistics.median(gaps)
        if not self.lo <= mid <= self.hi:
            return None
        spread = statistics.pstdev(gaps) / statistics.fmean(gaps)
        if spread >= self.jitter:
            return None
        self.reported[key] = ts
        return Detection("garrison.network.beaconing", "Beaconing - regular connections to one outside address",
                         "medium", list(TAGS), ts, ev, kind="detector",
                         extra={"interval_s": round(mid / 1e6, 1), "jitter": round(spread, 3), "connections": len(times)})
