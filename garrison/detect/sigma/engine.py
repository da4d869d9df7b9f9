"""The Sigma engine: routes each event to the rules of its logsource and evaluates them.

Rules are compiled once per (route, schema). For each index key an Aho-Corasick
automaton per field holds every rule's prefilter literals, so an event only
evaluates the rules whose literals occur in it (plus the few with no prefilter).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from garrison.detect.sigma.compile import MISSING, Compiled, EvalContext, compile_condition
from garrison.detect.sigma.correlate import CorrelationEngine
from garrison.detect.sigma.routing import IndexKey, Routing, event_keys, load_routing
from garrison.detect.sigma.values import RuleCompileError, _str
from garrison.model.detection import Detection


@dataclass
class RuleInfo:
    id: str
    title: str
    level: str
    tags: list[str]
    name: str | None
    path: str | None
    generate: bool = True  # False when only a correlation should report it


@dataclass
class _Entry:
    info: RuleInfo
    compiled: Compiled
    where: list[tuple[Any, str]]  # (getter, lower-case value)


@dataclass
class _Bucket:
    entries: list[_Entry] = field(default_factory=list)
    always: list[int] = field(default_factory=list)
    automata: dict[str, Any] = field(default_factory=dict)  # event key -> automaton of literal -> rule indexes


@dataclass
class LoadReport:
    loaded: int = 0
    unrouted: list[tuple[str, str]] = field(default_factory=list)  # (rule, logsource)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason)


def rule_info(rule: SigmaRule | SigmaCorrelationRule) -> RuleInfo:
    level = rule.level.name.lower() if rule.level else "medium"
    return RuleInfo(id=str(rule.id) if rule.id else (rule.name or rule.title), title=rule.title, level=level,
                    tags=[str(t) for t in rule.tags], name=rule.name,
                    path=str(rule.source.path) if rule.source and rule.source.path else None)


class SigmaEngine:
    def __init__(self, rules: list[SigmaRule], correlations: list[SigmaCorrelationRule] | None = None,
                 schema: str = "ecs", routing: Routing | None = None,
                 placeholders: dict[str, list[str]] | None = None, max_groups: int = 100_000):
        self.schema = schema
        self.routing = routing or load_routing()
        self.placeholders = placeholders or {}
        self.report = LoadReport()
        self.rules: dict[str, RuleInfo] = {}
        self._buckets: dict[IndexKey, _Bucket] = defaultdict(_Bucket)
        referenced: set[str] = set()
        for corr in correlations or []:
            if not corr.generate:
                for ref in corr.rules or []:
                    referenced.add(str(ref.reference))
        for rule in rules:
            self._add(rule, referenced)
        for b in self._buckets.values():
            for a in b.automata.values():
                a.make_automaton()
        self.correlation = CorrelationEngine(correlations or [], self.rules, schema, max_groups) if correlations else None

    # -- building -----------------------------------------------------------
    def _add(self, rule: SigmaRule, referenced: set[str]) -> None:
        info = rule_info(rule)
        if referenced and (info.id in referenced or (info.name and info.name in referenced)):
            info.generate = False
        ls = rule.logsource
        routes = self.routing.routes(ls.product, ls.category, ls.service)
        if not routes:
            self.report.unrouted.append((f"{info.title} ({info.path})",
                                         f"product={ls.product} category={ls.category} service={ls.service}"))
            return
        try:
            conds = [c.parsed for c in rule.detection.parsed_condition]
            for route in routes:
                resolve = route.resolver(self.schema)
                for cond in conds:
                    compiled = compile_condition(cond, resolve, self.placeholders)
                    where = [(resolve(k)[0], str(v).lower()) for k, v in route.where.items()]
                    for key in route.keys:
                        self._index(key, _Entry(info, compiled, where))
        except (RuleCompileError, Exception) as e:  # noqa: BLE001 - any rule-level failure is reported, never fatal
            self.report.failed.append((f"{info.title} ({info.path})", f"{type(e).__name__}: {e}"))
            return
        self.rules[info.id] = info
        self.report.loaded += 1

    def _index(self, key: IndexKey, entry: _Entry) -> None:
        b = self._buckets[key]
        idx = len(b.entries)
        b.entries.append(entry)
        pre = entry.compiled.prefilter
        if pre is None:
            b.always.append(idx)
            return
        for evkey, lit in pre:
            a = b.automata.get(evkey)
            if a is None:
                a = b.automata[evkey] = ahocorasick.Automaton()
            if a.exists(lit):
                a.get(lit).append(idx)
            else:
                a.add_word(lit, [idx])

    # -- matching -----------------------------------------------------------
    def candidates(self, ev: dict[str, Any]) -> list[tuple[_Bucket, list[int]]]:
        out = []
        for key in event_keys(ev, self.schema):
            b = self._buckets.get(key)
            if b is None:
                continue
            hit: set[int] = set(b.always)
            for evkey, auto in b.automata.items():
                v = ev.get(evkey, MISSING)
                if v is MISSING or v is None:
                    continue
                s = _str(v).lower() if type(v) is not list else "\n".join(_str(x).lower() for x in v)
                for _, idxs in auto.iter(s):
                    hit.update(idxs)
            if hit:
                out.append((b, sorted(hit)))
        return out

    def match(self, ev: dict[str, Any], timestamp: int = 0) -> list[Detection]:
        """Base-rule detections for one event (correlations are fed, and returned when they fire)."""
        ctx = EvalContext(ev)
        found: list[Detection] = []
        seen: set[str] = set()
        for bucket, idxs in self.candidates(ev):
            for i in idxs:
                e = bucket.entries[i]
                if e.info.id in seen:
                    continue
                if e.where and not all(_str(g(ctx)).lower() == v for g, v in e.where):
                    continue
                if e.compiled.pred(ctx):
                    seen.add(e.info.id)
                    d = Detection(e.info.id, e.info.title, e.info.level, e.info.tags, timestamp, ev)
                    if self.correlation is not None:
                        found.extend(self.correlation.feed(e.info, d))
                    if e.info.generate:
                        found.append(d)
        return found

    def flush(self) -> list[Detection]:
        """Close open correlation windows (end of a hunt)."""
        return self.correlation.flush() if self.correlation is not None else []
