"""Garrison's search language, compiled to parameterised DuckDB SQL.

    failed password                   free text: both words in event.original
    "failed password"                 a phrase
    user.name:root                    field equals value (case-insensitive)
    url.path:/wp-*                    wildcards * and ?
    http.response.status_code>=500    comparisons > >= < <=
    source.port:[1000 TO 2000]        inclusive range
    user.name:*                       the field exists
    a AND (b OR NOT c)                boolean logic; AND is implied between terms; '-term' is NOT

Field names are checked against a fixed pattern and values are always bound
as parameters, so no input reaches the SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from garrison.errors import QueryError
from garrison.model import CORE_COLUMNS

_FIELD = re.compile(r"[A-Za-z_@][\w.@-]*")
_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()"]+))')


@dataclass
class Tok:
    kind: str  # lp rp str word
    text: str
    pos: int


def _tokens(q: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m:
            if q[pos:].strip() == "":
                break
            raise QueryError("unterminated quoted string", q, pos)
        kind = m.lastgroup or "word"
        start = m.start(kind)
        out.append(Tok(kind, m.group(kind), start))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, q: str):
        self.q = q
        self.toks = _tokens(q)
        self.i = 0
        self.params: list[object] = []
        self.depth = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, msg: str, pos: int | None = None) -> QueryError:
        t = self.peek()
        return QueryError(msg, self.q, pos if pos is not None else (t.pos if t else len(self.q)))

    def parse(self) -> str:
        if not self.toks:
            return "TRUE"
        sql = self.or_expr()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return sql

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while (t := self.peek()) and t.kind == "word" and t.text == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.not_expr()]
        while (t := self.peek()) and not (t.kind == "rp" or (t.kind == "word" and t.text == "OR")):
            if t.kind == "word" and t.text == "AND":
                self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def not_expr(self) -> str:
        t = self.peek()
        if t is None:
            raise self.error("expected a term")
        if t.kind == "word" and t.text == "NOT":
            self.take()
            self._enter(t)
            inner = self.not_expr()
            self.depth -= 1
            return f"(NOT coalesce({inner}, FALSE))"
        if t.kind == "word" and t.text.startswith("-") and len(t.text) > 1:
            t.text = t.text[1:]
            t.pos += 1
            return f"(NOT coalesce({self.atom()}, FALSE))"
        return self.atom()

    def atom(self) -> str:
        t = self.peek()
        if t is None:
            raise self.error("expected a term")
        if t.kind == "lp":
            self.take()
            self._enter(t)
            inner = self.or_expr()
            self.depth -= 1
            if not (r := self.peek()) or r.kind != "rp":
                raise self.error("missing ')'")
            self.take()
            return inner
        if t.kind == "rp":
            raise self.error("unexpected ')'")
        if t.kind in ("word",) and t.text in ("AND", "OR"):
            raise self.error(f"{t.text} needs a term on each side")
        self.take()
        if t.kind == "str":
            return self.free_text(_unquote(t.text))
        if t.text == "*":
            return "TRUE"  # a bare * matches every event
        return self.word(t)

    def _enter(self, t: Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels of brackets and NOT", t.pos)

    def word(self, t: Tok) -> str:
        text = t.text
        m = re.match(r"([A-Za-z_@][\w.@-]*?)(>=|<=|>|<|:)(.*)$", text)
        if not m or (m.group(2) == ":" and "/" in m.group(1)):
            return self.free_text(text)
        field, op, value = m.groups()
        vpos = t.pos + len(field) + len(op)
        if op == ":" and value == "" and (n := self.peek()) is not None and n.kind == "str":
            value = _unquote(self.take().text)
            return self.compare(field, "=", value, vpos, quoted=True)
        if op == ":" and value.startswith("["):
            return self.range(field, value, vpos)
        if op == ":" and value[:2] in (">=", "<="):
            op, value = value[:2], value[2:]
        elif op == ":" and value[:1] in (">", "<"):
            op, value = value[:1], value[1:]
        if value == "":
            if (n := self.peek()) is not None and n.kind == "str":
                value = _unquote(self.take().text)
                return self.compare(field, "=" if op == ":" else op, value, vpos, quoted=True)
            raise self.error(f"missing value after {field}{op}", vpos)
        return self.compare(field, "=" if op == ":" else op, value, vpos)

    def range(self, field: str, value: str, pos: int) -> str:
        # the range may have been split by spaces: collect words until ']'
        parts = [value]
        while not parts[-1].endswith("]"):
            n = self.peek()
            if n is None or n.kind != "word":
                raise self.error("unterminated range: expected '[low TO high]'", pos)
            parts.append(self.take().text)
        body = " ".join(parts)[1:-1].split()
        if len(body) != 3 or body[1] != "TO":
            raise QueryError("malformed range: expected '[low TO high]'", self.q, pos)
        lo, hi = body[0], body[2]
        conds = []
        if lo != "*":
            conds.append(self.compare(field, ">=", lo, pos))
        if hi != "*":
            conds.append(self.compare(field, "<=", hi, pos))
        return "(" + " AND ".join(conds or ["TRUE"]) + ")"

    def column(self, field: str, pos: int) -> tuple[str, str]:
        if not _FIELD.fullmatch(field):
            raise QueryError(f"invalid field name {field!r}", self.q, pos)
        kind = CORE_COLUMNS.get(field)
        if kind is not None:
            return f'"{field}"', kind
        self.params.append(f'$."{field}"')
        return "json_extract_string(extra, ?)", "json"

    def compare(self, field: str, op: str, value: str, pos: int, quoted: bool = False) -> str:
        col, kind = self.column(field, pos - len(field) - 1)
        if op == "=" and value == "*" and not quoted:
            return f"({col} IS NOT NULL)"
        if kind == "int" or (kind == "json" and op != "=" and _is_number(value)):
            if not _is_number(value):
                raise QueryError(f"{field} is numeric; {value!r} is not a number", self.q, pos)
            expr = col if kind == "int" else f"TRY_CAST({col} AS DOUBLE)"
            self.params.append(float(value) if "." in value else int(value))
            return f"({expr} {op} ?)"
        if kind == "ts":
            from garrison.model import us_from_iso

            try:
                us = us_from_iso(value)
            except ValueError:
                raise QueryError(f"{value!r} is not an ISO-8601 time", self.q, pos) from None
            self.params.append(us)
            return f"(epoch_us({col}) {op} ?)"
        if op != "=":
            self.params.append(value)
            return f"({col} {op} ?)"
        if not quoted and ("*" in value or "?" in value):
            self.params.append(_like(value))
            return f"({col} ILIKE ? ESCAPE '\\')"
        if (field.endswith(".ip") or field in LOWER_CASE_FIELDS) and kind != "json":
            # Addresses (normalised, lower-case IPv6) and the ECS keywords parsers write in lower case: a
            # plain comparison, which DuckDB pushes down to the Parquet reader, not lower() on every row.
            self.params.append(value.lower())
            return f"({col} = ?)"
        self.params.append(value)
        return f"(lower({col}) = lower(?))"

    def free_text(self, text: str) -> str:
        self.params.append("%" + _like_literal(text) + "%")
        return "(\"event.original\" ILIKE ? ESCAPE '\\')"


# ECS keyword fields whose values Garrison's parsers always write in lower case.
LOWER_CASE_FIELDS = frozenset(("event.dataset", "event.outcome", "event.category", "event.type", "event.kind",
                               "network.transport", "network.direction", "observer.type"))


def _unquote(s: str) -> str:
    return re.sub(r'\\(.)', r"\1", s[1:-1])


def _is_number(v: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", v) is not None


def _like_literal(v: str) -> str:
    return v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(v: str) -> str:
    return _like_literal(v).replace("*", "%").replace("?", "_")


MAX_DEPTH = 32  # brackets and NOTs inside each other
MAX_QUERY = 16 * 1024  # characters
MAX_TERMS = 512


def compile_query(q: str) -> tuple[str, list[object]]:
    """Return (SQL boolean expression, parameters) for a query string, or raise QueryError."""
    if len(q) > MAX_QUERY:
        raise QueryError(f"query longer than {MAX_QUERY} characters", q[:80], 80)
    p = _Parser(q)
    if len(p.toks) > MAX_TERMS:
        raise QueryError(f"more than {MAX_TERMS} terms", q[:80], min(80, len(q)))
    sql = p.parse()
    return sql, p.params


_REL = re.compile(r"(\d+)\s*(s|m|h|d|w|mo|y)$")
_UNIT_US = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


def parse_time_bound(value: str, now_us: int) -> int:
    """'24h', '7d', '30m', '12mo' before now, 'now', or an ISO-8601 time -> epoch us."""
    v = value.strip()
    if v == "now":
        return now_us
    m = _REL.fullmatch(v)
    if m:
        return now_us - int(m.group(1)) * _UNIT_US[m.group(2)] * 1_000_000
    from garrison.model import us_from_iso

    try:
        return us_from_iso(v)
    except ValueError:
        raise QueryError("expected a duration like 24h, 7d, 12mo or an ISO-8601 time", v, 0) from None
