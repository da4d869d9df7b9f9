"""Entity risk.

Each detection adds to the risk of its entities (source IP, user, host):

    added = LEVEL_POINTS[level] x criticality weight x privilege weight x outcome weight

- criticality weight = 1 + 0.25 x (asset criticality - 1), criticality 1..5 from the inventory;
- privilege weight = 1.5 for a privileged user, else 1;
- outcome weight = ``failed_factor`` (0.25) when the attempt failed (a refused login, a connection the
  firewall denied, a web request answered 4xx/5xx, or a source under a ban in force), else 1: the
  internet's constant failed guessing should not outweigh one thing that worked;
- informational detections (single attempts) add nothing: they are counted, not scored;
- the same rule on the same entity within ``dedupe`` adds nothing again;
- risk decays with a half-life (24 h by default), computed lazily at each update;
- the effective score multiplies by 1 + 0.2 x (distinct ATT&CK tactics seen - 1).

All of it is configurable (``triage`` in the config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEVEL_POINTS = {"informational": 0, "low": 5, "medium": 15, "high": 40, "critical": 100}
# Tactics that mean the attacker is already inside: execution and everything after it.
POST_COMPROMISE = frozenset(("execution", "persistence", "privilege-escalation", "defense-evasion", "credential-dumping",
                             "lateral-movement", "collection", "exfiltration", "impact", "command-and-control"))
# Sources that only log what happened on the organisation's own machines and tenant.
ESTATE_DATASETS = ("windows.", "m365.audit", "entra.audit", "sysmon", "auditd")


@dataclass(frozen=True)
class RiskModel:
    half_life_us: int = 24 * 3_600_000_000
    dedupe_us: int = 3_600_000_000
    tactic_bonus: float = 0.2
    failed_factor: float = 0.25
    points: dict[str, int] = field(default_factory=lambda: dict(LEVEL_POINTS))

    def decay(self, score: float, from_us: int, to_us: int) -> float:
        if to_us <= from_us:
            return score
        return score * 0.5 ** ((to_us - from_us) / self.half_life_us)

    def weight(self, level: str, event: dict[str, Any], failed: bool = False) -> float:
        w = float(self.points.get(level, 0))
        crit = event.get("garrison.host.criticality")
        if isinstance(crit, int) and crit > 1:
            w *= 1 + 0.25 * (crit - 1)
        if event.get("garrison.user.privileged"):
            w *= 1.5
        if failed:
            w *= self.failed_factor
        return w

    def effective(self, score: float, tactics: set[str]) -> float:
        return score * (1 + self.tactic_bonus * max(0, len(tactics) - 1))


def tactics_of(tags: list[str]) -> set[str]:
    """ATT&CK tactics named in Sigma-style tags ('attack.credential-access'), techniques excluded."""
    return {t.split(".", 1)[1] for t in tags if t.startswith("attack.") and not t[7:8].lower() == "t"}


# "campaign": a phishing campaign's key (its sender's domain, or the address on a shared provider), so that every
# report of one campaign joins one incident.
_ENTITY_KEYS = (("ip", "source.ip"), ("user", "user.name"), ("host", "host.name"), ("host", "garrison.source.host"),
                ("campaign", "garrison.mail.campaign_key"))


def entities_of(event: dict[str, Any], evidence: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    """The (kind, value) entities of an event: source IP, user (lower case, without a mail domain, so a Windows logon and an
    Entra ID sign-in of one person are one user),
    host (short name, lower case, so that WS-01 and ws-01.council.local are one machine). A temporal
    correlation links different activities, so the entities of all its evidence events count."""
    out: list[tuple[str, str]] = []
    for ev in [event, *(evidence or [])]:
        for kind, key in _ENTITY_KEYS:
            v = ev.get(key)
            if isinstance(v, str) and v and v != "-":
                ent = (kind, v if kind in ("ip", "campaign") else v.split(".")[0].lower() if kind == "host" else
                       v.split("@")[0].lower())
                if ent not in out:
                    out.append(ent)
    return out


def failed(event: dict[str, Any], blocked: bool = False) -> bool:
    """The attempt did not get through: refused, denied, answered with an error, or stopped by a ban."""
    if blocked or event.get("event.outcome") == "failure" or event.get("event.type") == "denied":
        return True
    status = event.get("http.response.status_code")
    return isinstance(status, int) and status >= 400


def on_estate(event: dict[str, Any]) -> bool:
    """Evidence from inside: logged by the organisation's own machines or tenant, or sent by an internal address."""
    ds = str(event.get("event.dataset") or "")
    return ds.startswith(ESTATE_DATASETS) or event.get("garrison.source.zone") == "internal"
