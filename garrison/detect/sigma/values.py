"""Predicates on one event value, built from lowered value specs (``plan.py``).

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
from sigma.types import Placeholder, SigmaString, SpecialChars

from garrison.model.patterns import options

Pred = Callable[[Any], bool]

_RE2_OPTIONS = options(case_sensitive=True)  # a rule's regular expression says (?i) itself


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


def regex_from_parts(parts: list[Any]) -> str:
    out = []
    for p in parts:
        if p is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(re2.escape(p) if isinstance(p, str) else "")
    return "".join(out)


def string_pred(kind: str, lit: str, cased: bool) -> Pred:
    """A test for one lowered string variant; ``lit`` is lower-case already unless ``cased``."""
    if kind == "rx":
        rx = re2_compile(lit)
        return lambda v: rx.search(_str(v)) is not None
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


def value_pred(spec: tuple[Any, ...]) -> Pred:
    """A predicate on one (non-null) field value, from a lowered value spec (``plan.value_spec``)."""
    kind = spec[0]
    if kind == "exp":
        preds = [value_pred(v) for v in spec[1]]
        return lambda v: any(p(v) for p in preds)
    if kind == "re":
        rx = re2_compile(spec[1])
        return lambda v: rx.search(_str(v)) is not None
    if kind == "str":
        cased = spec[1]
        variants = [string_pred(k, lit, cased) for k, lit in spec[2]]
        return variants[0] if len(variants) == 1 else (lambda v: any(p(v) for p in variants))
    if kind == "ts":
        part, n = spec[1], spec[2]
        return lambda v: _ts_part(v, part) == n
    if kind == "cmp":
        num = spec[2]
        cmp = {"LT": num.__gt__, "LTE": num.__ge__, "GT": num.__lt__, "GTE": num.__le__}[spec[1]]

        def compare(v: Any) -> bool:
            x = _number(v)
            return x is not None and not math.isnan(x) and cmp(x)
        return compare
    if kind == "bool":
        b = spec[1]
        return lambda v: v is b if isinstance(v, bool) else _str(v).lower() == ("true" if b else "false")
    if kind == "num":
        num = spec[1]
        s = str(num)

        def number(v: Any) -> bool:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return v == num
            return _str(v) == s or _number(v) == num
        return number
    if kind == "cidr":
        net = ipaddress.ip_network(spec[1])

        def cidr(v: Any) -> bool:
            try:
                return ipaddress.ip_address(_str(v)) in net
            except ValueError:
                return False
        return cidr
    raise RuleCompileError(f"unsupported value spec {kind!r}")
