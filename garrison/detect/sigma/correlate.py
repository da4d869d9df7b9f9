"""Sigma correlation rules, streaming, with bounded state.

Every type of the specification: event_count, value_count, temporal,
temporal_ordered, value_sum, value_avg, value_median and value_percentile, with
group-by, field aliases, timespan, chaining (a correlation may reference another
correlation) and ``generate``.

State is a sliding window of matches per (correlation, group). Windows older
than the timespan are pruned; at most ``max_groups`` groups are kept per
correlation (the least recently seen are evicted and counted). Conditions that
grow (gt, gte, eq, neq) fire as soon as they hold; lt and lte are judged when
the window closes (a later match arrives, or ``flush``).
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND, CorrelationConditionNOT, CorrelationConditionOR, SigmaCorrelationRule,
    SigmaCorrelationType, SigmaExtendedCorrelationCondition, SigmaRuleReference,
)

from garrison.detect.sigma.compile import MISSING, EvalContext
from garrison.detect.sigma.info import rule_info
from garrison.model.detection import Detection

_OPS = {
    "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b, "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b, "EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b,
}


@dataclass
class _Hit:
    ts: int
    ref: str  # the referenced rule's reference string
    value: Any
    detection: Detection


@dataclass
class _Group:
    start: int
    hits: deque[_Hit] = field(default_factory=deque)
    newest: int = 0  # the latest event time among the hits


def field_value(ev: dict[str, Any], name: str) -> Any:
    """A field of a matched event: its own name, its Windows event data name, or its original record's."""
    for key in (name, "winlog.event_data." + name):
        v = ev.get(key, MISSING)
        if v is not MISSING:
            return v
    v = EvalContext(ev).original().get(name, MISSING)
    return None if v is MISSING else v


class _Correlation:
    def __init__(self, rule: SigmaCorrelationRule, info: Any, max_groups: int):
        self.rule = rule
        self.info = info
        self.type = rule.type
        self.span_us = rule.timespan.seconds * 1_000_000
        self.group_by = list(rule.group_by or [])
        self.refs = [r.reference for r in rule.rules or []]
        self.max_groups = max_groups
        self.groups: OrderedDict[tuple[Any, ...], _Group] = OrderedDict()
        self.evicted = 0
        cond = rule.condition
        self.extended = cond if isinstance(cond, SigmaExtendedCorrelationCondition) else None
        self.op = None if self.extended else cond.op.name
        self.count = None if self.extended else cond.count
        fr = None if self.extended else cond.fieldref
        self.fieldref = fr[0] if isinstance(fr, list) else fr
        self.percentile = None if self.extended else getattr(cond, "percentile", None)
        self.aliases: dict[str, dict[str, str]] = {}
        for alias_name, alias in (rule.aliases.aliases if rule.aliases else {}).items():
            self.aliases[alias_name] = {ref.reference: fname for ref, fname in alias.mapping.items()}

    def _field_for(self, name: str, ref: str) -> str:
        m = self.aliases.get(name)
        return m.get(ref, name) if m else name

    def key(self, ref: str, d: Detection) -> tuple[Any, ...]:
        if d.group is not None:  # chained: the inner correlation's group values
            return tuple(d.group.get(self._field_for(g, ref)) for g in self.group_by)
        return tuple(_hashable(field_value(d.event, self._field_for(g, ref))) for g in self.group_by)

    def value(self, ref: str, d: Detection) -> Any:
        if self.fieldref is None:
            return None
        return field_value(d.event, self._field_for(self.fieldref, ref))

    def _aggregate(self, hits: deque[_Hit]) -> Any:
        t = self.type
        if t == SigmaCorrelationType.EVENT_COUNT:
            return len(hits)
        if t == SigmaCorrelationType.VALUE_COUNT:
            return len({_hashable(h.value) for h in hits if h.value is not None})
        nums = [x for x in (_num(h.value) for h in hits) if x is not None]
        if not nums:
            return None
        if t == SigmaCorrelationType.VALUE_SUM:
            return sum(nums)
        if t == SigmaCorrelationType.VALUE_AVG:
            return sum(nums) / len(nums)
        if t == SigmaCorrelationType.VALUE_MEDIAN:
            return statistics.median(nums)
        if t == SigmaCorrelationType.VALUE_PERCENTILE:
            s = sorted(nums)
            k = (len(s) - 1) * (self.percentile or 50) / 100
            lo, hi = int(k), min(int(k) + 1, len(s) - 1)
            return s[lo] + (s[hi] - s[lo]) * (k - lo)
        return None

    def _holds(self, hits: deque[_Hit]) -> bool:
        t = self.type
        if t == SigmaCorrelationType.TEMPORAL:
            seen = {h.ref for h in hits}
            if self.extended is not None:
                return _eval_ext(self.extended._parsed, seen)
            return all(r in seen for r in self.refs)
        if t == SigmaCorrelationType.TEMPORAL_ORDERED:
            i = 0
            for h in hits:
                if i < len(self.refs) and h.ref == self.refs[i]:
                    i += 1
            return i == len(self.refs)
        agg = self._aggregate(hits)
        return agg is not None and _OPS[self.op](agg, self.count)  # type: ignore[index]

    def _fires_early(self) -> bool:
        return self.type in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED) or \
            self.op in ("GT", "GTE", "EQ", "NEQ")

    def feed(self, ref: str, d: Detection) -> list[Detection]:
        ts = d.timestamp
        key = self.key(ref, d)
        if any(k is None for k in key):
            return []
        out: list[Detection] = []
        g = self.groups.get(key)
        if g is not None and ts - g.start > self.span_us:
            if not self._fires_early() and g.hits and self._holds(g.hits):
                out.append(self._fire(key, g))
            # slide: keep hits still inside the window ending now
            while g.hits and ts - g.hits[0].ts > self.span_us:
                g.hits.popleft()
            g.start = g.hits[0].ts if g.hits else ts
        if g is None:
            g = self.groups[key] = _Group(ts)
            if len(self.groups) > self.max_groups:
                self.groups.popitem(last=False)
                self.evicted += 1
        else:
            self.groups.move_to_end(key)
        if g.hits and ts < g.newest:
            # Out of order (sources that lag, or partitions processed apart): the window is event time, so it
            # holds the hits within the timespan of the newest; one older than that is outside it.
            if g.newest - ts > self.span_us:
                return out
            g.hits = deque(h for h in g.hits if g.newest - h.ts <= self.span_us)
        g.newest = max(g.newest, ts)
        g.hits.append(_Hit(ts, ref, self.value(ref, d), d))
        if self._fires_early() and self._holds(g.hits):
            out.append(self._fire(key, g))
            del self.groups[key]
        return out

    def _fire(self, key: tuple[Any, ...], g: _Group) -> Detection:
        last = g.hits[-1].detection
        group = dict(zip(self.group_by, key))
        return Detection(self.info.id, self.info.title, self.info.level, self.info.tags, g.hits[-1].ts, last.event,
                         kind="correlation", source_file=last.source_file, source_record=last.source_record,
                         group=group, evidence=[h.detection.event for h in g.hits],
                         extra={"correlation_type": self.type.name.lower()})

    def flush(self) -> list[Detection]:
        out = []
        if not self._fires_early():
            for key, g in self.groups.items():
                if g.hits and self._holds(g.hits):
                    out.append(self._fire(key, g))
        self.groups.clear()
        return out


def _eval_ext(node: Any, seen: set[str]) -> bool:
    if isinstance(node, SigmaRuleReference):
        return node.reference in seen
    if isinstance(node, CorrelationConditionAND):
        return all(_eval_ext(a, seen) for a in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_eval_ext(a, seen) for a in node.args)
    if isinstance(node, CorrelationConditionNOT):
        return not _eval_ext(node.args[0], seen)
    return False


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v.lower() if isinstance(v, str) else v


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


class CorrelationEngine:
    def __init__(self, correlations: list[SigmaCorrelationRule], rules: dict[str, Any], max_groups: int):
        self._by_ref: dict[str, list[_Correlation]] = {}
        self.correlations: list[_Correlation] = []
        names = {}
        for c in correlations:
            info = rule_info(c)
            corr = _Correlation(c, info, max_groups)
            self.correlations.append(corr)
            names[info.id] = corr
            for ref in corr.refs:
                self._by_ref.setdefault(ref, []).append(corr)
        self._names = {(c.info.name or c.info.id): c for c in self.correlations}
        self._by_id = {c.info.id: c for c in self.correlations}
        self._elsewhere: set[int] = set()
        self.handed: list[tuple[_Correlation, str, Detection]] = []

    def hand_off_unless(self, field: str) -> list[str]:
        """Scale-out: correlations not grouped by ``field`` (the bus's partition key) are kept by the owner of their
        group's partition, not here. Their hits collect in ``handed`` for the commit to pass on; ``take`` feeds
        them on the owner. Returns those correlations' ids."""
        moved = [c for c in self.correlations if field not in c.group_by]
        self._elsewhere = {id(c) for c in moved}
        return [c.info.id for c in moved]

    def _feed(self, corr: _Correlation, ref: str, d: Detection) -> list[Detection]:
        if id(corr) in self._elsewhere:
            self.handed.append((corr, ref, d))
            return []
        return corr.feed(ref, d)

    def take(self, correlation_id: str, ref: str, d: Detection) -> list[Detection]:
        """A hit handed over by another worker, for a correlation whose group this worker owns."""
        corr = self._by_id.get(correlation_id)
        if corr is None:  # the rule was removed since: nothing keeps its state
            return []
        out: list[Detection] = []
        for fired in corr.feed(ref, d):
            out.extend(self._chain(corr, fired))
        return out

    def feed(self, info: Any, d: Detection) -> list[Detection]:
        out: list[Detection] = []
        for ref in {info.id, info.name} - {None}:
            for corr in self._by_ref.get(ref, []):
                for fired in self._feed(corr, ref, d):
                    out.extend(self._chain(corr, fired))
        return out

    def _chain(self, corr: _Correlation, fired: Detection) -> list[Detection]:
        # Like a base rule, a correlation that another correlation references reports its own matches
        # only when that outer correlation says 'generate: true'.
        out = [] if self._suppressed(corr) else [fired]
        for ref in {corr.info.id, corr.info.name} - {None}:
            for outer in self._by_ref.get(ref, []):
                for f in self._feed(outer, ref, fired):
                    out.extend(self._chain(outer, f))
        return out

    def _suppressed(self, corr: _Correlation) -> bool:
        outers = [o for ref in {corr.info.id, corr.info.name} - {None} for o in self._by_ref.get(ref, [])]
        return bool(outers) and not any(o.rule.generate for o in outers)

    def flush(self) -> list[Detection]:
        out: list[Detection] = []
        for c in self.correlations:
            for fired in c.flush():
                out.extend(self._chain(c, fired))
        return out
