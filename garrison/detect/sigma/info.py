"""What the engine and the correlations keep of a rule: its id, title, level and tags."""

from __future__ import annotations

from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule


@dataclass
class RuleInfo:
    id: str
    title: str
    level: str
    tags: list[str]
    name: str | None
    path: str | None
    generate: bool = True  # False when only a correlation should report it


def rule_info(rule: SigmaRule | SigmaCorrelationRule) -> RuleInfo:
    level = rule.level.name.lower() if rule.level else "medium"
    return RuleInfo(id=str(rule.id) if rule.id else (rule.name or rule.title), title=rule.title, level=level,
                    tags=[str(t) for t in rule.tags], name=rule.name,
                    path=str(rule.source.path) if rule.source and rule.source.path else None)
