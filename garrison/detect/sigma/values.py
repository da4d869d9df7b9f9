"""Compile pySigma value types into predicates on one event value.

Strings compare case-insensitively unless ``cased``; wildcards become prefix,
suffix, substring or (for inner wildcards) RE2 tests. Regular expressions from
rules run on RE2 (linear time); one RE2 cannot compile is an error for its rule.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import re2
from sigma.types import (
    Placeholder, SigmaBool, SigmaCasedString, SigmaCIDRExpression, SigmaCompareExpression, SigmaExpansion,
    SigmaNumber, SigmaQueryExpression, SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString,
    SigmaTimestampPart, SpecialChars,
)

Pred = Callable[[Any], bool]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class RuleCompileError(Exception):
    pass


def re2_compile(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as e:
        raise RuleCompileError(f"regular expression {pattern!r} is not supported by RE2 (linear-time engine): {e}") from None


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def string_parts(s: SigmaString, placeholders: dict[str, list[str]]) -> list[list[Any]]:
    """The parts of a SigmaString, with placeholders expanded (one part list per expansion)."""
    out: list[list[Any]] = [[]]
    for p in s.s:
        if isinstance(p, Placeholder):
            values = placeholders.get(p.name)
            if not values:
                raise RuleCompileError(f"placeholder %{p.name}% has no values (set detect.sigma.placeholders)")
            out = [prev + [v] for prev in out for v in values]
        else:
            out = [prev + [p] for prev in out]
    return out


def shape(parts: list[Any]) -> tuple[str, str] | None:
    """('eq'|'sw'|'ew'|'ct', literal) for simple patterns, else None."""
    lits = [p for p in parts if isinstance(p, str)]
    specials = [p for p in parts if not isinstance(p, str)]
    literal = "".join(lits)
    if not specials:
        return "eq", literal
    if any(p is SpecialChars.WILDCARD_SINGLE for p in specials):
        return None
    lead = parts[0] is SpecialChars.WILDCARD_MULTI
    trail = parts[-1] is SpecialChars.WILDCARD_MULTI
    inner = [i for i, p in enumerate(parts) if not isinstance(p, str) and 0 < i < len(parts) - 1]
    if inner:
        return None
    if lead and trail:
        return ("ct", literal) if len(parts) >= 3 or literal else ("any", "")
    if lead:
        return "ew", literal
    return "sw", literal


def _regex_from_parts(parts: list[Any]) -> str:
    out = []
    for p in parts:
        if p is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(re2.escape(p) if isinstance(p, str) else "")
    return "".join(out)


def string_pred(parts: list[Any], cased: bool) -> Pred:
    sh = shape(parts)
    if sh is not None:
        kind, lit = sh
        if not cased:
            lit = lit.lower()
        if kind == "any":
            return lambda v: True
        if cased:
            if kind == "eq":
                return lambda v: _str(v) == lit
            if kind == "sw":
                return lambda v: _str(v).startswith(lit)
            if kind == "ew":
                return lambda v: _str(v).endswith(lit)
            return lambda v: lit in _str(v)
        if kind == "eq":
            return lambda v: _str(v).lower() == lit
        if kind == "sw":
            return lambda v: _str(v).lower().startswith(lit)
        if kind == "ew":
            return lambda v: _str(v).lower().endswith(lit)
        return lambda v: lit in _str(v).lower()
    rx = re2_compile(("" if cased else "(?i)") + "(?s)^" + _regex_from_parts(parts) + "$")
    return lambda v: rx.search(_str(v)) is not None


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        try:
            return float(int(s, 16)) if s.lower().startswith("0x") else float(s)
        except ValueError:
            return None
    return None


def _ts_part(v: Any, part: str) -> int | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        us = int(v) if v > 1e14 else int(v * 1_000_000)
        dt = datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if part == "week":
        return dt.isocalendar()[1]
    return int(getattr(dt, part))


def value_pred(value: Any, placeholders: dict[str, list[str]]) -> Pred:
    """A predicate on one (non-null) field value for a pySigma value."""
    if isinstance(value, SigmaExpansion):
        preds = [value_pred(v, placeholders) for v in value.values]
        return lambda v: any(p(v) for p in preds)
    if isinstance(value, SigmaRegularExpression):
        flags = ""
        if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
            flags += "i"
        if SigmaRegularExpressionFlag.MULTILINE in value.flags:
            flags += "m"
        if SigmaRegularExpressionFlag.DOTALL in value.flags:
            flags += "s"
        rx = re2_compile((f"(?{flags})" if flags else "") + value.regexp.to_plain())
        return lambda v: rx.search(_str(v)) is not None
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        variants = [string_pred(parts, cased) for parts in string_parts(value, placeholders)]
        return variants[0] if len(variants) == 1 else (lambda v: any(p(v) for p in variants))
    if isinstance(value, SigmaTimestampPart):
        part = value.timestamp_part.name.lower()
        n = value.number
        return lambda v: _ts_part(v, part) == n
    if isinstance(value, SigmaCompareExpression):
        num = float(value.number.number)
        op = value.op.name
        cmp = {"LT": num.__gt__, "LTE": num.__ge__, "GT": num.__lt__, "GTE": num.__le__}[op]

        def compare(v: Any) -> bool:
            x = _number(v)
            return x is not None and not math.isnan(x) and cmp(x)
        return compare
    if isinstance(value, SigmaBool):
        b = value.boolean
        return lambda v: v is b if isinstance(v, bool) else _str(v).lower() == ("true" if b else "false")
    if isinstance(value, SigmaNumber):
        num = value.number
        s = str(num)

        def number(v: Any) -> bool:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return v == num
            return _str(v) == s or _number(v) == num
        return number
    if isinstance(value, SigmaCIDRExpression):
        net = value.network

        def cidr(v: Any) -> bool:
            try:
                return ipaddress.ip_address(_str(v)) in net
            except ValueError:
                return False
        return cidr
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
