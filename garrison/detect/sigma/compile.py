"""Compile a pySigma condition tree into a predicate on an event, plus a literal prefilter.

The predicate takes an ``EvalContext`` (the event and per-event caches). Field
names are resolved once, at compile time, by a ``Resolver`` chosen for the rule's
logsource and the event schema, so evaluation does plain dict lookups.

The prefilter is one or two clauses, each a list of (event key, lower-case literal):
if the rule can match an event, then for every clause one of its literals occurs
in its field. The engine uses it to skip rules after one scan per field instead of
evaluating each rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sigma.conditions import (
    ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR, ConditionValueExpression,
)
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull

import re2
from sigma.types import Placeholder, SigmaString

from garrison.detect.sigma.values import RuleCompileError, _str, literal_of, re2_compile, shape, value_pred

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


def required_event_ids(node: Any) -> set[int] | None:
    """EventIDs a condition requires: lets a service-wide rule be indexed by (channel, EventID)."""
    from sigma.types import SigmaNumber

    if isinstance(node, ConditionAND):
        sets = [s for s in (required_event_ids(a) for a in node.args) if s is not None]
        if not sets:
            return None
        out = sets[0]
        for s in sets[1:]:
            out = out & s
        return out
    if isinstance(node, ConditionOR):
        acc: set[int] = set()
        for a in node.args:
            s = required_event_ids(a)
            if s is None:
                return None
            acc |= s
        return acc
    if isinstance(node, ConditionFieldEqualsValueExpression) and node.field == "EventID" \
            and isinstance(node.value, SigmaNumber) and isinstance(node.value.number, int):
        return {node.value.number}
    return None


def compile_condition(node: Any, resolve: Resolver, placeholders: dict[str, list[str]]) -> Compiled:
    fields: set[str] = set()
    pred, pre = _compile(node, resolve, placeholders, fields)
    return Compiled(pred, pre, fields, required_event_ids(node))


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


def _compile(node: Any, resolve: Resolver, ph: dict[str, list[str]], fields: set[str]) -> tuple[Pred, list[Clause] | None]:
    if isinstance(node, ConditionAND):
        parts = [_compile(a, resolve, ph, fields) for a in node.args]
        preds = [p for p, _ in parts]
        clauses = [cl for _, cnf in parts if cnf is not None for cl in cnf]
        cnf = sorted(clauses, key=_selectivity, reverse=True)[:MAX_CLAUSES] or None
        if len(preds) == 2:
            a, b = preds
            return (lambda c: a(c) and b(c)), cnf
        return (lambda c: all(p(c) for p in preds)), cnf
    if isinstance(node, ConditionOR):
        parts = [_compile(a, resolve, ph, fields) for a in node.args]
        groups: dict[str, list[tuple[str, str]]] = {}
        preds = []
        for p, _ in parts:
            f = getattr(p, "fuse", None)
            if f is None:
                preds.append(p)
            else:
                groups.setdefault(f[0], []).append((f[1], f[2]))
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
    if isinstance(node, ConditionNOT):
        inner, _ = _compile(node.args[0], resolve, ph, fields)
        return (lambda c: not inner(c)), None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field(node.field, node.value, resolve, ph, fields)
    if isinstance(node, ConditionValueExpression):
        fields.add("event.original")
        return _keyword(node.value, ph)
    raise RuleCompileError(f"unsupported condition element {type(node).__name__}")


# Literals that occur in most Windows events of their field: a poor prefilter however long they are.
_COMMON = ("c:\\windows\\", "\\system32\\", "\\syswow64\\", "ntdll.dll", "kernelbase.dll", "kernel32.dll",
           "c:\\program files", "\\microsoft\\", "\\lsass.exe", "svchost.exe", "hklm\\software\\", "hku\\")


def _selectivity(pf: list[tuple[str, str]]) -> tuple[int, int]:
    """How well a literal set narrows candidates: its weakest literal's length, less common parts."""
    def score(lit: str) -> int:
        for c in _COMMON:
            if c in lit:
                lit = lit.replace(c, "")
        return len(lit.strip("\\ .|+()"))
    return min(score(lit) for _, lit in pf), -len(pf)


def _field(field: str, value: Any, resolve: Resolver, ph: dict[str, list[str]], fields: set[str]) -> tuple[Pred, list[Clause] | None]:
    get, key = resolve(field)
    fields.add(key if key is not None else UNBOUNDED)
    if isinstance(value, SigmaNull):
        return (lambda c: (v := get(c)) is MISSING or v is None or v == ""), None
    if isinstance(value, SigmaExists):
        want = value.exists
        return (lambda c: ((v := get(c)) is not MISSING and v is not None) == want), None
    if isinstance(value, SigmaFieldReference):
        other, okey = resolve(value.field)
        fields.add(okey if okey is not None else UNBOUNDED)
        sw, ew = value.starts_with, value.ends_with

        def ref(c: EvalContext) -> bool:
            a, b = get(c), other(c)
            if a is MISSING or b is MISSING or a is None or b is None:
                return False
            x, y = _str(a).lower(), _str(b).lower()
            return x.startswith(y) if sw else x.endswith(y) if ew else x == y
        return ref, None
    pred = value_pred(value, ph)
    lits = literal_of(value, ph)
    pre = [[(key, lit) for lit in lits]] if key is not None and lits else None
    leaf = _any_value(pred, get, key)
    if key is not None and type(value) is SigmaString and not any(isinstance(p, Placeholder) for p in value.s):
        sh = shape(list(value.s))
        if sh is not None and sh[0] != "any":
            leaf.fuse = (key, sh[0], sh[1].lower())  # type: ignore[attr-defined]
    return leaf, pre


def _keyword(value: Any, ph: dict[str, list[str]]) -> tuple[Pred, list[Clause] | None]:
    """Keywords (no field) match anywhere in the raw event text."""
    from sigma.types import SigmaString, SpecialChars

    if isinstance(value, SigmaString) and value.s and value.s[0] is not SpecialChars.WILDCARD_MULTI:
        value = SigmaString("*") + value
    if isinstance(value, SigmaString) and value.s and value.s[-1] is not SpecialChars.WILDCARD_MULTI:
        value = value + SigmaString("*")
    pred = value_pred(value, ph)
    lits = literal_of(value, ph)

    def kw(c: EvalContext) -> bool:
        raw = c.ev.get("event.original")
        return isinstance(raw, str) and pred(raw)
    return kw, ([[("event.original", lit) for lit in lits]] if lits else None)
