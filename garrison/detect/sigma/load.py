"""Load Sigma rules, filters and correlations with pySigma, reporting each file that can't load."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.rule import SigmaRule

# The specification names 'utf16le' as an alias of 'wide'; pySigma knows only 'wide'.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)


@dataclass
class RuleSet:
    rules: list[SigmaRule] = field(default_factory=list)
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    filters: list[SigmaFilter] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    files: int = 0


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yml", ".yaml") and q.is_file()))
        elif p.is_file():
            out.append(p)
    return out


def load_rules(paths: Iterable[str | Path], disabled: set[str] | None = None) -> RuleSet:
    """Every rule file under ``paths``; a file that fails is reported with the reason and skipped."""
    rs = RuleSet()
    items: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    for f in rule_files(paths):
        rs.files += 1
        try:
            coll = SigmaCollection.from_yaml(f.read_text(encoding="utf-8"), collect_errors=True,
                                             collect_filters=True, resolve_references=False)
        except (SigmaError, ValueError, UnicodeDecodeError) as e:
            rs.errors.append((str(f), f"{type(e).__name__}: {e}"))
            continue
        reasons: list[str] = []
        for r in [*coll.rules, *coll.filters]:
            errors = getattr(r, "errors", None)
            if errors:
                reasons += [str(e) for e in errors]
                continue
            if r.source is not None and r.source.path is None:
                r.source.path = f
            elif r.source is None:
                from sigma.types import SigmaRuleLocation

                r.source = SigmaRuleLocation(f)
            items.append(r)
        reasons += [str(e) for e in coll.errors if str(e) not in reasons]
        if reasons:
            rs.errors.append((str(f), "; ".join(reasons)))
    if disabled:
        items = [r for r in items if str(r.id) not in disabled and (r.name or "") not in disabled]
    coll = SigmaCollection(items, collect_filters=True, resolve_references=False)  # type: ignore[arg-type]
    try:
        coll.resolve_rule_references()
    except SigmaError as e:
        rs.errors.append((str(getattr(e, "source", None) or "(correlation references)"), str(e)))
    filters = [r for r in items if isinstance(r, SigmaFilter)]
    if filters:
        coll.apply_filters(filters)
    for r in coll.rules:
        if isinstance(r, SigmaCorrelationRule):
            rs.correlations.append(r)
        elif isinstance(r, SigmaRule):
            rs.rules.append(r)
    rs.filters = filters
    return rs
