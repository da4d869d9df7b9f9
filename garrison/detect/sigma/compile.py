"""Compile a pySigma condition tree into a predicate on an event, plus a literal prefilter.

The predicate takes an ``EvalContext`` (the event and per-event caches). Field
names are resolved once, at compile time, by a ``Resolver`` chosen for the rule's
logsource and the event schema, so evaluation does plain dict lookups.

The prefilter is a list of (event key, lower-case literal): if the rule can match
an event, one of these literals occurs in that field. The engine uses it to skip
rules with an Aho-Corasick scan instead of evaluating each one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sigma.conditions import (
    ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR, ConditionValueExpression,
)
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull

from garrison.detect.sigma.values import RuleCompileError, _str, literal_of, value_pred

MISSING: Any = object()


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


def _any_value(pred: Callable[[Any], bool], get: Getter) -> Pred:
    def leaf(c: EvalContext) -> bool:
        v = get(c)
        if v is MISSING or v is None:
            return False
        if type(v) is list:
            return any(x is not None and pred(x) for x in v)
        return pred(v)
    return leaf


class Compiled:
    __slots__ = ("pred", "prefilter", "fields")

    def __init__(self, pred: Pred, prefilter: list[tuple[str, str]] | None, fields: set[str]):
        self.pred = pred
        self.prefilter = prefilter
        self.fields = fields


def compile_condition(node: Any, resolve: Resolver, placeholders: dict[str, list[str]]) -> Compiled:
    fields: set[str] = set()
    pred, pre = _compile(node, resolve, placeholders, fields)
    return Compiled(pred, pre, fields)


def _compile(node: Any, resolve: Resolver, ph: dict[str, list[str]], fields: set[str]) -> tuple[Pred, list[tuple[str, str]] | None]:
    if isinstance(node, ConditionAND):
        parts = [_compile(a, resolve, ph, fields) for a in node.args]
        preds = [p for p, _ in parts]
        pres = [pf for _, pf in parts if pf is not None]
        best = max(pres, key=lambda pf: (min(len(lit) for _, lit in pf), -len(pf)), default=None)
        if len(preds) == 2:
            a, b = preds
            return (lambda c: a(c) and b(c)), best
        return (lambda c: all(p(c) for p in preds)), best
    if isinstance(node, ConditionOR):
        parts = [_compile(a, resolve, ph, fields) for a in node.args]
        preds = [p for p, _ in parts]
        union: list[tuple[str, str]] | None = []
        for _, pf in parts:
            if pf is None or union is None:
                union = None
            else:
                union += pf
        if len(preds) == 2:
            a, b = preds
            return (lambda c: a(c) or b(c)), union
        return (lambda c: any(p(c) for p in preds)), union
    if isinstance(node, ConditionNOT):
        inner, _ = _compile(node.args[0], resolve, ph, fields)
        return (lambda c: not inner(c)), None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field(node.field, node.value, resolve, ph, fields)
    if isinstance(node, ConditionValueExpression):
        return _keyword(node.value, ph)
    raise RuleCompileError(f"unsupported condition element {type(node).__name__}")


def _field(field: str, value: Any, resolve: Resolver, ph: dict[str, list[str]], fields: set[str]) -> tuple[Pred, list[tuple[str, str]] | None]:
    fields.add(field)
    get, key = resolve(field)
    if isinstance(value, SigmaNull):
        return (lambda c: (v := get(c)) is MISSING or v is None or v == ""), None
    if isinstance(value, SigmaExists):
        want = value.exists
        return (lambda c: ((v := get(c)) is not MISSING and v is not None) == want), None
    if isinstance(value, SigmaFieldReference):
        other, _ = resolve(value.field)
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
    pre = [(key, lit) for lit in lits] if key is not None and lits else None
    return _any_value(pred, get), pre


def _keyword(value: Any, ph: dict[str, list[str]]) -> tuple[Pred, list[tuple[str, str]] | None]:
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
    return kw, ([("event.original", lit) for lit in lits] if lits else None)
