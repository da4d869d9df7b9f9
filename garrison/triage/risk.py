"""Entity risk.

Each detection adds to the risk of its entities (source IP, user, host):

    added = LEVEL_POINTS[level] x criticality weight x privilege weight

- criticality weight = 1 + 0.25 x (asset criticality - 1), criticality 1..5 from the inventory;
- privilege weight = 1.5 for a privileged user, else 1;
- the same rule on the same entity within ``dedupe`` adds nothing again;
- risk decays with a half-life (24 h by default), computed lazily at each update;
- the effective score multiplies by 1 + 0.2 x (distinct ATT&CK tactics seen - 1).

All of it is configurable (``triage`` in the config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEVEL_POINTS = {"informational": 1, "low": 5, "medium": 15, "high": 40, "critical": 100}


@dataclass(frozen=True)
class RiskModel:
    half_life_us: int = 24 * 3_600_000_000
    dedupe_us: int = 3_600_000_000
    tactic_bonus: float = 0.2
    points: dict[str, int] = field(default_factory=lambda: dict(LEVEL_POINTS))

    def decay(self, score: float, from_us: int, to_us: int) -> float:
        if to_us <= from_us:
            return score
        return score * 0.5 ** ((to_us - from_us) / self.half_life_us)

    def weight(self, level: str, event: dict[str, Any]) -> float:
        w = float(self.points.get(level, 0))
        crit = event.get("garrison.host.criticality")
        if isinstance(crit, int) and crit > 1:
            w *= 1 + 0.25 * (crit - 1)
        if event.get("garrison.user.privileged"):
            w *= 1.5
        return w

    def effective(self, score: float, tactics: set[str]) -> float:
        return score * (1 + self.tactic_bonus * max(0, len(tactics) - 1))


def tactics_of(tags: list[str]) -> set[str]:
    """ATT&CK tactics named in Sigma-style tags ('attack.credential-access'), techniques excluded."""
    return {t.split(".", 1)[1] for t in tags if t.startswith("attack.") and not t[7:8].lower() == "t"}


def entities_of(event: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for kind, key in (("ip", "source.ip"), ("user", "user.name"), ("host", "host.name")):
        v = event.get(key)
        if isinstance(v, str) and v and v != "-":
            out.append((kind, v.lower() if kind != "ip" else v))
    return out
