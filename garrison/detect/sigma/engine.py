"""The Sigma engine: routes each event to the rules of its logsource and evaluates them.

Rules are compiled once per route. For each index key an Aho-Corasick
automaton per field holds every rule's prefilter literals, so an event only
evaluates the rules whose literals occur in it (plus the few with no prefilter).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from collections.abc import Iterator
from typing import Any

import ahocorasick
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from garrison.detect.sigma.compile import UNBOUNDED, Compiled, EvalContext, compile_condition
from garrison.detect.sigma.correlate import CorrelationEngine
from garrison.detect.sigma.info import RuleInfo
from garrison.detect.sigma.plan import RulePlan, correlation_refs, plan_rule
from garrison.detect.sigma.routing import IndexKey, Routing, event_keys, load_routing
import re2

from garrison.detect.sigma.values import RuleCompileError, _str, re2_compile
from garrison.model.detection import Detection


@dataclass
class _Entry:
    info: RuleInfo
    compiled: Compiled
    where: list[tuple[Any, str]]  # (getter, lower-case value)
    where_keys: set[str] = field(default_factory=set)


@dataclass
class _Bucket:
    entries: list[_Entry] = field(default_factory=list)
    always: list[int] = field(default_factory=list)
    automata: dict[str, Any] = field(default_factory=dict)  # event key -> automaton of literal -> rule bitmask
    need: dict[int, int] = field(default_factory=dict)  # rule index -> clause bits it needs (0b1 or 0b11)
    reads: set[str] = field(default_factory=set)  # event keys any rule here reads
    memo_keys: tuple[str, ...] | None = None  # set when the bucket's verdicts can be memoised on those keys
    memo: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    # (event key, how, what): "ac" an automaton, "small" [(literal, mask)], "any" (RE2 of all literals, mask)
    scans: list[tuple[str, str, Any]] = field(default_factory=list)


@dataclass
class LoadReport:
    loaded: int = 0
    unrouted: list[tuple[str, str]] = field(default_factory=list)  # (rule, logsource)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason)


def event_time(ev: dict[str, Any]) -> int:
    """Epoch us of a normalised event (0 when it has no time)."""
    ts = ev.get("@timestamp")
    return ts if type(ts) is int else 0


SMALL_SET = 24
ANY_RULES = 3
MEMO_MAX_KEYS = 64
MEMO_SIZE = 10_000  # verdicts kept per bucket; the whole memo is dropped when full


class SigmaEngine:
    def __init__(self, rules: list[SigmaRule], correlations: list[SigmaCorrelationRule] | None = None,
                 routing: Routing | None = None,
                 placeholders: dict[str, list[str]] | None = None, max_groups: int = 100_000,
                 plans: list[RulePlan] | None = None):
        """``plans`` (from the rule cache) stand in for ``rules`` when given."""
        self.routing = routing or load_routing()
        self.placeholders = placeholders or {}
        self.report = LoadReport()
        self.errors: list[tuple[str, str]] = []  # (file, reason): rule files that could not be loaded
        self.rules: dict[str, RuleInfo] = {}
        self._buckets: dict[IndexKey, _Bucket] = defaultdict(_Bucket)
        self._chains: dict[IndexKey, list[_Bucket]] = {}
        referenced = correlation_refs(correlations or [])
        for plan in plans if plans is not None else [plan_rule(r, self.placeholders) for r in rules]:
            self._add(plan, referenced)
        for b in self._buckets.values():
            # Rules are pure functions of the fields they read: events repeating those values (the same
            # process touching the same file, say) reuse the verdict. Not for keyword rules (raw text).
            if UNBOUNDED not in b.reads and "event.original" not in b.reads and len(b.reads) <= MEMO_MAX_KEYS:
                b.memo_keys = tuple(sorted(b.reads))
            for evkey, a in b.automata.items():
                lits = [(lit, a.get(lit)) for lit in a.keys()]
                union = 0
                for _, m in lits:
                    union |= m
                if union.bit_count() <= ANY_RULES:
                    # few rules read this field: one case-insensitive RE2 scan says whether to try them all
                    rx = re2_compile("(?i)" + "|".join(re2.escape(lit) for lit, _ in lits))
                    b.scans.append((evkey, "any", (rx, union)))
                elif len(lits) <= SMALL_SET:  # a few substring tests beat an automaton's per-match overhead
                    b.scans.append((evkey, "small", lits))
                else:
                    a.make_automaton()
                    b.scans.append((evkey, "ac", a))
        self.correlation = CorrelationEngine(correlations or [], self.rules, max_groups) if correlations else None
        self.correlation_count = len(correlations or [])

    # -- building -----------------------------------------------------------
    def _add(self, plan: RulePlan, referenced: set[str]) -> None:
        info = plan.info
        if referenced and (info.id in referenced or (info.name and info.name in referenced)):
            info = replace(info, generate=False)
        product, category, service = plan.logsource
        routes = self.routing.routes(product, category, service)
        if not routes:
            self.report.unrouted.append((f"{info.title} ({info.path})",
                                         f"product={product} category={category} service={service}"))
            return
        if plan.error is not None:
            self.report.failed.append((f"{info.title} ({info.path})", plan.error))
            return
        try:
            for route in routes:
                resolve = route.resolver()
                for cond, eids in zip(plan.conds, plan.event_ids):
                    compiled = compile_condition(cond, resolve, eids)
                    where = [(resolve(k)[0], str(v).lower()) for k, v in route.where.items()]
                    wkeys = {resolve(k)[1] or UNBOUNDED for k in route.where}
                    for key in route.keys:
                        if key[0] == "w" and key[2] is None and compiled.event_ids:
                            # a service-wide rule that names its EventIDs: index it under each
                            for eid in compiled.event_ids:
                                self._index((key[0], key[1], eid), _Entry(info, compiled, where, wkeys))
                        else:
                            self._index(key, _Entry(info, compiled, where, wkeys))
        except (RuleCompileError, Exception) as e:  # noqa: BLE001 - any rule-level failure is reported, never fatal
            self.report.failed.append((f"{info.title} ({info.path})", f"{type(e).__name__}: {e}"))
            return
        self.rules[info.id] = info
        self.report.loaded += 1

    def prefilters(self) -> list[list[list[tuple[str, str]]] | None]:
        """Each indexed rule's literal prefilter (None: it can't be narrowed by literals). An event any rule
        can match satisfies at least one of them: a query engine can skip the rest of the rows."""
        return [e.compiled.prefilter for b in self._buckets.values() for e in b.entries]

    def _index(self, key: IndexKey, entry: _Entry) -> None:
        b = self._buckets[key]
        idx = len(b.entries)
        b.entries.append(entry)
        b.reads |= entry.compiled.fields
        b.reads |= entry.where_keys
        pre = entry.compiled.prefilter
        if pre is None:
            b.always.append(idx)
            return
        # rule idx owns bits 2*idx (first clause) and 2*idx+1 (second); it is a candidate when all its clauses hit
        b.need[idx] = (1 << len(pre)) - 1
        for j, clause in enumerate(pre):
            bit = 1 << (2 * idx + j)
            for evkey, lit in clause:
                a = b.automata.get(evkey)
                if a is None:
                    a = b.automata[evkey] = ahocorasick.Automaton()
                a.add_word(lit, (a.get(lit) if a.exists(lit) else 0) | bit)

    # -- matching -----------------------------------------------------------
    def _bucket_candidates(self, b: _Bucket, ev: dict[str, Any], lowered: dict[str, str]) -> list[int]:
        """Rules of one bucket worth evaluating: those whose prefilter clauses all hit, and those without one."""
        mask = 0
        for evkey, how, what in b.scans:
            if how == "any":
                v = ev.get(evkey)
                if v is not None and what[0].search(v if type(v) is str else _str(v)) is not None:
                    mask |= what[1]
                continue
            s = lowered.get(evkey)
            if s is None:
                v = ev.get(evkey)
                if v is None:
                    continue
                s = lowered[evkey] = v.lower() if type(v) is str else _str(v).lower() if type(v) is not list \
                    else "\n".join(_str(x).lower() for x in v)
            if how == "small":
                for lit, m in what:
                    if lit in s:
                        mask |= m
            else:
                for _, m in what.iter(s):
                    mask |= m
        if not mask:
            return b.always
        idxs = list(b.always)
        got: dict[int, int] = {}
        while mask:
            low = mask & -mask
            pos = low.bit_length() - 1
            got[pos >> 1] = got.get(pos >> 1, 0) | (1 << (pos & 1))
            mask ^= low
        need = b.need
        idxs += [i for i, g in got.items() if g == need[i]]
        return idxs

    def candidates(self, ev: dict[str, Any]) -> list[tuple[_Bucket, list[int]]]:
        lowered: dict[str, str] = {}
        out = []
        for key in event_keys(ev):
            b = self._buckets.get(key)
            if b is not None:
                idxs = self._bucket_candidates(b, ev, lowered)
                if idxs:
                    out.append((b, idxs))
        return out

    def _evaluate(self, b: _Bucket, idxs: list[int], ctx: EvalContext) -> list[int]:
        hits = []
        for i in idxs:
            e = b.entries[i]
            if e.where and not all(_str(g(ctx)).lower() == v for g, v in e.where):
                continue
            if e.compiled.pred(ctx):
                hits.append(i)
        return hits

    def _chain(self, ev: dict[str, Any]) -> list[_Bucket]:
        """The buckets an event visits, cached per index key (channel and EventID, or dataset)."""
        keys = event_keys(ev)
        k = keys[0]
        chain = self._chains.get(k)
        if chain is None:
            chain = [b for b in (self._buckets.get(x) for x in keys) if b is not None]
            if len(self._chains) < 100_000:
                self._chains[k] = chain
        return chain

    def base_matches(self, ev: dict[str, Any]) -> bool:
        """Whether any rule (those only correlations read included) matches, without feeding correlations."""
        return any(hits for _, hits in self._hits(ev))

    def _hits(self, ev: dict[str, Any]) -> Iterator[tuple[_Bucket, list[int]]]:
        ctx: EvalContext | None = None
        lowered: dict[str, str] = {}
        for b in self._chain(ev):
            hits: list[int] | None = None
            memo_key: tuple[Any, ...] | None = None
            if b.memo_keys is not None:
                memo_key = tuple(map(ev.get, b.memo_keys))
                try:
                    hits = b.memo.get(memo_key)
                except TypeError:  # a list value: not hashable, evaluate
                    memo_key = None
            if hits is None:
                idxs = self._bucket_candidates(b, ev, lowered)
                if idxs:
                    if ctx is None:
                        ctx = EvalContext(ev)
                    hits = self._evaluate(b, idxs, ctx)
                else:
                    hits = []
                if memo_key is not None:
                    if len(b.memo) >= MEMO_SIZE:
                        b.memo.clear()
                    b.memo[memo_key] = hits
            yield b, hits

    def match(self, ev: dict[str, Any], timestamp: int | None = None) -> list[Detection]:
        """Base-rule detections for one event (correlations are fed, and returned when they fire).

        ``timestamp`` (epoch us) defaults to the event's ``@timestamp``, read only when a rule matches.
        """
        found: list[Detection] = []
        seen: set[str] | None = None
        for b, hits in self._hits(ev):
            for i in hits:
                info = b.entries[i].info
                if seen is None:
                    seen = set()
                elif info.id in seen:
                    continue
                seen.add(info.id)
                if timestamp is None:
                    timestamp = event_time(ev)
                d = Detection(info.id, info.title, info.level, info.tags, timestamp, ev)
                if self.correlation is not None:
                    found.extend(self.correlation.feed(info, d))
                if info.generate:
                    found.append(d)
        return found

    def flush(self) -> list[Detection]:
        """Close open correlation windows (end of a hunt)."""
        return self.correlation.flush() if self.correlation is not None else []
