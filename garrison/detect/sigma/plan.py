"""Lower pySigma rules to plans: plain tuples that the engine builds predicates from and the rule cache keeps.

Lowering does the slow part once (pySigma's condition parsing, placeholder expansion, value shapes, prefilter
literals); building closures from a plan is cheap. Plans hold only str, int, float, bool, None, tuples and
frozensets, so ``marshal`` can store them (no code runs when a cache file is read).

Condition nodes::

    ("and", (node, ...))  ("or", (node, ...))  ("not", node)
    ("null", field)  ("exists", field, want)  ("ref", field, other, startswith, endswith)
    ("val", field, vspec, literals | None, fuse | None)   ("kw", vspec, literals | None)

Value specs::

    ("str", cased, ((shape, literal) | ("rx", pattern), ...))  ("re", pattern)  ("exp", (vspec, ...))
    ("ts", part, n)  ("cmp", op, number)  ("bool", b)  ("num", n)  ("cidr", network)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR, ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.types import (
    Placeholder, SigmaBool, SigmaCasedString, SigmaCIDRExpression, SigmaCompareExpression, SigmaExists,
    SigmaExpansion, SigmaFieldReference, SigmaNull, SigmaNumber, SigmaQueryExpression, SigmaRegularExpression,
    SigmaRegularExpressionFlag, SigmaString, SigmaTimestampPart, SpecialChars,
)

from garrison.detect.sigma.info import RuleInfo, rule_info
from garrison.detect.sigma.values import RuleCompileError, regex_from_parts, shape, string_parts

Node = tuple[Any, ...]


@dataclass
class RulePlan:
    info: RuleInfo
    logsource: tuple[str | None, str | None, str | None]  # product, category, service
    conds: tuple[Node, ...]
    event_ids: tuple[frozenset[int] | None, ...]  # per condition: the EventIDs it can match (None: any)
    error: str | None = None  # why the rule can't be evaluated

    def to_tuple(self) -> tuple[Any, ...]:
        i = self.info
        return ((i.id, i.title, i.level, tuple(i.tags), i.name, i.path, i.generate), self.logsource, self.conds,
                self.event_ids, self.error)

    @classmethod
    def from_tuple(cls, t: tuple[Any, ...]) -> RulePlan:
        (rid, title, level, tags, name, path, generate), logsource, conds, eids, error = t
        return cls(RuleInfo(rid, title, level, list(tags), name, path, generate), logsource, conds, eids, error)


def plan_rule(rule: SigmaRule, placeholders: dict[str, list[str]]) -> RulePlan:
    info = rule_info(rule)
    ls = rule.logsource
    logsource = (ls.product, ls.category, ls.service)
    try:
        trees = [c.parsed for c in rule.detection.parsed_condition]
        conds = tuple(lower(t, placeholders) for t in trees)
        eids = tuple(_frozen(required_event_ids(t)) for t in trees)
    except (RuleCompileError, Exception) as e:  # noqa: BLE001 - any rule-level failure is reported, never fatal
        return RulePlan(info, logsource, (), (), f"{type(e).__name__}: {e}")
    return RulePlan(info, logsource, conds, eids)


def _frozen(s: set[int] | None) -> frozenset[int] | None:
    return None if s is None else frozenset(s)


def lower(node: Any, ph: dict[str, list[str]]) -> Node:
    if isinstance(node, ConditionAND):
        return ("and", tuple(lower(a, ph) for a in node.args))
    if isinstance(node, ConditionOR):
        return ("or", tuple(lower(a, ph) for a in node.args))
    if isinstance(node, ConditionNOT):
        return ("not", lower(node.args[0], ph))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field(node.field, node.value, ph)
    if isinstance(node, ConditionValueExpression):
        value = node.value
        # keywords (no field) match anywhere in the raw event text
        if isinstance(value, SigmaString) and value.s and value.s[0] is not SpecialChars.WILDCARD_MULTI:
            value = SigmaString("*") + value
        if isinstance(value, SigmaString) and value.s and value.s[-1] is not SpecialChars.WILDCARD_MULTI:
            value = value + SigmaString("*")
        return ("kw", value_spec(value, ph), _tuple(literal_of(value, ph)))
    raise RuleCompileError(f"unsupported condition element {type(node).__name__}")


def _tuple(x: list[str] | None) -> tuple[str, ...] | None:
    return None if x is None else tuple(x)


def _field(field: str, value: Any, ph: dict[str, list[str]]) -> Node:
    if isinstance(value, SigmaNull):
        return ("null", field)
    if isinstance(value, SigmaExists):
        return ("exists", field, bool(value.exists))
    if isinstance(value, SigmaFieldReference):
        return ("ref", field, value.field, bool(value.starts_with), bool(value.ends_with))
    fuse = None
    if type(value) is SigmaString and not any(isinstance(p, Placeholder) for p in value.s):
        sh = shape(list(value.s))
        if sh is not None and sh[0] != "any":
            fuse = (sh[0], sh[1].lower())
    return ("val", field, value_spec(value, ph), _tuple(literal_of(value, ph)), fuse)


def value_spec(value: Any, ph: dict[str, list[str]]) -> Node:
    if isinstance(value, SigmaExpansion):
        return ("exp", tuple(value_spec(v, ph) for v in value.values))
    if isinstance(value, SigmaRegularExpression):
        flags = ""
        if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
            flags += "i"
        if SigmaRegularExpressionFlag.MULTILINE in value.flags:
            flags += "m"
        if SigmaRegularExpressionFlag.DOTALL in value.flags:
            flags += "s"
        return ("re", (f"(?{flags})" if flags else "") + value.regexp.to_plain())
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        variants = []
        for parts in string_parts(value, ph):
            sh = shape(parts)
            if sh is None:
                variants.append(("rx", ("" if cased else "(?i)") + "(?s)^" + regex_from_parts(parts) + "$"))
            else:
                variants.append((sh[0], sh[1] if cased else sh[1].lower()))
        return ("str", cased, tuple(variants))
    if isinstance(value, SigmaTimestampPart):
        return ("ts", value.timestamp_part.name.lower(), value.number)
    if isinstance(value, SigmaCompareExpression):
        return ("cmp", value.op.name, float(value.number.number))
    if isinstance(value, SigmaBool):
        return ("bool", bool(value.boolean))
    if isinstance(value, SigmaNumber):
        return ("num", value.number)
    if isinstance(value, SigmaCIDRExpression):
        return ("cidr", str(value.network))
    if isinstance(value, SigmaQueryExpression):
        raise RuleCompileError("query expressions are backend-specific and can't be evaluated")
    raise RuleCompileError(f"unsupported value type {type(value).__name__}")


def literal_of(value: Any, placeholders: dict[str, list[str]]) -> list[str] | None:
    """Lower-case literals, one of which must occur in a value this matches (for prefiltering)."""
    if isinstance(value, SigmaExpansion):
        out: list[str] = []
        for v in value.values:
            lits = literal_of(v, placeholders)
            if lits is None:
                return None
            out += lits
        return out
    if isinstance(value, SigmaString):
        try:
            variants = string_parts(value, placeholders)
        except RuleCompileError:
            return None
        out = []
        for parts in variants:
            best = max((p for p in parts if isinstance(p, str)), key=len, default="")
            if len(best) < 3:
                return None
            out.append(best.lower())
        return out
    return None


def required_event_ids(node: Any) -> set[int] | None:
    """EventIDs a condition requires: lets a service-wide rule be indexed by (channel, EventID)."""
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


def correlation_refs(correlations: list[SigmaCorrelationRule]) -> set[str]:
    """Rules that correlations name without 'generate': they report only through the correlation."""
    out: set[str] = set()
    for corr in correlations:
        if not corr.generate:
            for ref in corr.rules or []:
                out.add(str(ref.reference))
    return out
