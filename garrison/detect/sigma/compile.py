"""Build a rule plan's condition (``plan.py``) into a predicate on an event, plus a literal prefilter.

The predicate takes an ``EvalContext`` (the event and per-event caches). Field
names are resolved once, at compile time, by a ``Resolver`` chosen for the rule's
logsource and the event schema, so evaluation does plain dict lookups.

The prefilter is one or two clauses, each a list of (event key, lower-case literal):
if the rule can match an event, then for every clause one of its literals occurs
in its field. The engine uses it to skip rules after one scan per field instead of
evaluating each rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
import re2

from garrison.detect.sigma.values import RuleCompileError, _str, re2_compile, value_pred

MISSING: Any = object()
UNBOUNDED = "\x00unbounded"  # in Compiled.fields: the rule may read fields it can't name in advance


class EvalContext:
    """One event under evaluation, with lazily built views shared by all rules."""

    __slots__ = ("ev", "_orig", "_lower")

    def __init__(self, ev: dict[str, Any]):
        self.ev = ev
        self._orig: dict[str, Any] | None = None
        self._lower: dict[str, Any] | None = None

    def original(self) -> dict[str, Any]:
        """The original JSON record, flattened to dotted keys (empty for text sources)."""
        if self._orig is None:
            self._orig = {}
            raw = self.ev.get("event.original")
            if isinstance(raw, str) and raw.startswith("{"):
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    obj = None
                if isinstance(obj, dict):
                    _flatten(obj, "", self._orig)
        return self._orig

    def original_ci(self, key: str) -> Any:
        if self._lower is None:
            self._lower = {k.lower(): v for k, v in self.original().items()}
        return self._lower.get(key.lower(), MISSING)


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for k, v in obj.items():
        key = prefix + k
        out[key] = v
        if isinstance(v, dict):
            _flatten(v, key + ".", out)


Getter = Callable[[EvalContext], Any]
Pred = Callable[[EvalContext], bool]
# field name -> (getter, the single event key it reads, or None when it may read several)
Resolver = Callable[[str], tuple[Getter, str | None]]


def key_getter(key: str) -> Getter:
    return lambda c: c.ev.get(key, MISSING)


def chain_getter(keys: list[str], fallback_original: str | None) -> Getter:
    def get(c: EvalContext) -> Any:
        ev = c.ev
        for k in keys:
            v = ev.get(k, MISSING)
            if v is not MISSING:
                return v
        if fallback_original is not None:
            v = c.original().get(fallback_original, MISSING)
            if v is MISSING:
                v = c.original_ci(fallback_original)
            return v
        return MISSING
    return get


def _any_value(pred: Callable[[Any], bool], get: Getter, key: str | None = None) -> Pred:
    if key is not None:  # the common case, one dict lookup and no getter call
        def key_leaf(c: EvalContext) -> bool:
            v = c.ev.get(key)
            if v is None:
                return False
            if type(v) is list:
                return any(x is not None and pred(x) for x in v)
            return pred(v)
        return key_leaf

    def leaf(c: EvalContext) -> bool:
        v = get(c)
        if v is MISSING or v is None:
            return False
        if type(v) is list:
            return any(x is not None and pred(x) for x in v)
        return pred(v)
    return leaf


class Compiled:
    __slots__ = ("pred", "prefilter", "fields", "event_ids")

    def __init__(self, pred: Pred, prefilter: list[list[tuple[str, str]]] | None, fields: set[str],
                 event_ids: set[int] | None = None):
        self.pred = pred
        self.prefilter = prefilter
        self.fields = fields  # the event keys the rule reads (UNBOUNDED among them if it can't say)
        self.event_ids = event_ids  # the rule can only match these EventIDs (None: any)


def compile_condition(node: tuple[Any, ...], resolve: Resolver, event_ids: frozenset[int] | None = None) -> Compiled:
    fields: set[str] = set()
    pred, pre = _compile(node, resolve, fields)
    return Compiled(pred, pre, fields, set(event_ids) if event_ids is not None else None)


Clause = list[tuple[str, str]]
MAX_CLAUSES = 2
# A plain case-insensitive string test carries `.fuse = (event key, shape, lower-case literal)`, so that an
# OR of many of them on one field (a rule's list of values) becomes one fused test.


def _fuse(key: str, tests: list[tuple[str, str]]) -> Pred:
    eqs = frozenset(lit for kind, lit in tests if kind == "eq")
    sws = tuple(lit for kind, lit in tests if kind == "sw")
    ews = tuple(lit for kind, lit in tests if kind == "ew")
    cts = [lit for kind, lit in tests if kind == "ct"]
    ct_rx = re2_compile("|".join(re2.escape(x) for x in cts)) if len(cts) > 4 else None

    def one(x: Any) -> bool:
        s = _str(x).lower()
        if s in eqs or (sws and s.startswith(sws)) or (ews and s.endswith(ews)):
            return True
        if ct_rx is not None:
            return ct_rx.search(s) is not None
        return any(lit in s for lit in cts)

    def fused(c: EvalContext) -> bool:
        v = c.ev.get(key)
        if v is None:
            return False
        if type(v) is list:
            return any(x is not None and one(x) for x in v)
        return one(v)
    return fused


def _compile(node: tuple[Any, ...], resolve: Resolver, fields: set[str]) -> tuple[Pred, list[Clause] | None]:
    kind = node[0]
    if kind == "and":
        parts = [_compile(a, resolve, fields) for a in node[1]]
        preds = [p for p, _ in parts]
        clauses = [cl for _, cnf in parts if cnf is not None for cl in cnf]
        cnf = sorted(clauses, key=_selectivity, reverse=True)[:MAX_CLAUSES] or None
        if len(preds) == 2:
            a, b = preds
            return (lambda c: a(c) and b(c)), cnf
        return (lambda c: all(p(c) for p in preds)), cnf
    if kind == "or":
        groups: dict[str, list[tuple[str, str]]] = {}
        preds = []
        parts: list[tuple[Pred | None, list[Clause] | None]] = []
        for child in node[1]:
            if child[0] == "val" and child[4] is not None and (key := resolve(child[1])[1]) is not None:
                # a plain string test on one key: it joins the fused test and needs no predicate of its own
                fields.add(key)
                groups.setdefault(key, []).append(child[4])
                parts.append((None, [[(key, lit) for lit in child[3]]] if child[3] else None))
                continue
            p, cnf = _compile(child, resolve, fields)
            preds.append(p)
            parts.append((p, cnf))
        for key, tests in groups.items():
            preds.append(_fuse(key, tests))
        union: Clause | None = []
        for _, cnf in parts:
            if cnf is None or union is None:
                union = None
            else:
                union += max(cnf, key=_selectivity)
        if len(preds) == 2:
            a, b = preds
            return (lambda c: a(c) or b(c)), ([union] if union else None)
        return (lambda c: any(p(c) for p in preds)), ([union] if union else None)
    if kind == "not":
        inner, _ = _compile(node[1], resolve, fields)
        return (lambda c: not inner(c)), None
    if kind == "kw":
        fields.add("event.original")
        return _keyword(node[1], node[2])
    return _field(node, resolve, fields)


# Literals that occur in most Windows events of their field: a poor prefilter however long they are.
_COMMON = ("c:\\windows\\", "\\system32\\", "\\syswow64\\", "ntdll.dll", "kernelbase.dll", "kernel32.dll",
           "c:\\program files", "\\microsoft\\", "\\lsass.exe", "svchost.exe", "hklm\\software\\", "hku\\")


@functools.lru_cache(maxsize=65536)
def _score(lit: str) -> int:
    for c in _COMMON:
        if c in lit:
            lit = lit.replace(c, "")
    return len(lit.strip("\\ .|+()"))


def _selectivity(pf: list[tuple[str, str]]) -> tuple[int, int]:
    """How well a literal set narrows candidates: its weakest literal's length, less common parts."""
    return min(_score(lit) for _, lit in pf), -len(pf)


def _field(node: tuple[Any, ...], resolve: Resolver, fields: set[str]) -> tuple[Pred, list[Clause] | None]:
    kind, field = node[0], node[1]
    get, key = resolve(field)
    fields.add(key if key is not None else UNBOUNDED)
    if kind == "null":
        return (lambda c: (v := get(c)) is MISSING or v is None or v == ""), None
    if kind == "exists":
        want = node[2]
        return (lambda c: ((v := get(c)) is not MISSING and v is not None) == want), None
    if kind == "ref":
        other, okey = resolve(node[2])
        fields.add(okey if okey is not None else UNBOUNDED)
        sw, ew = node[3], node[4]

        def ref(c: EvalContext) -> bool:
            a, b = get(c), other(c)
            if a is MISSING or b is MISSING or a is None or b is None:
                return False
            x, y = _str(a).lower(), _str(b).lower()
            return x.startswith(y) if sw else x.endswith(y) if ew else x == y
        return ref, None
    if kind != "val":
        raise RuleCompileError(f"unsupported condition element {kind!r}")
    _, _, spec, lits, fuse = node
    pred = value_pred(spec)
    pre = [[(key, lit) for lit in lits]] if key is not None and lits else None
    leaf = _any_value(pred, get, key)
    if key is not None and fuse is not None:
        leaf.fuse = (key, fuse[0], fuse[1])  # type: ignore[attr-defined]
    return leaf, pre


def _keyword(spec: tuple[Any, ...], lits: tuple[str, ...] | None) -> tuple[Pred, list[Clause] | None]:
    """Keywords (no field) match anywhere in the raw event text."""
    pred = value_pred(spec)

    def kw(c: EvalContext) -> bool:
        raw = c.ev.get("event.original")
        return isinstance(raw, str) and pred(raw)
    return kw, ([[("event.original", lit) for lit in lits]] if lits else None)
