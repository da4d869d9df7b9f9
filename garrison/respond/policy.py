"""Response policies: which detections create which decisions, for how long, with escalation and safety."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from garrison.config import Config, PolicyConfig, _build
from garrison.errors import ConfigError
from garrison.model.inventory import Inventory
from garrison.model.batch import Batch
from garrison.model.decision import TYPES, Decision, parse_duration
from garrison.model.detection import LEVELS, Detection
from garrison.respond.decisions import ActiveView, offences
from garrison.respond.identity import ACTIONS as IDENTITY_ACTIONS
from garrison.respond.safety import CircuitBreaker, protected_reason

log = logging.getLogger("garrison.respond")
ESCALATION_WINDOW_US = 30 * 86_400_000_000
Notice = Callable[[str, str, str], None]  # (level, title, text)


@dataclass(frozen=True)
class Policy:
    name: str
    type: str
    duration_us: int
    target: str
    min_level: int
    rules: frozenset[str]
    tags: frozenset[str]
    mode: str = "ask"

    def applies(self, d: Detection) -> bool:
        if LEVELS.index(d.level) < self.min_level:
            return False
        if self.rules and d.rule_id not in self.rules and d.rule_title not in self.rules:
            return False
        return not self.tags or any(t in self.tags for t in d.tags)


def compile_policies(config: Config) -> list[Policy]:
    out = []
    for i, raw in enumerate(config.respond.policies):
        pc: PolicyConfig = _build(PolicyConfig, dict(raw), f"respond.policies[{i}]")
        if pc.type not in TYPES and pc.type not in IDENTITY_ACTIONS:
            raise ConfigError(f"respond.policies[{i}].type: {pc.type!r}; one of {', '.join([*TYPES, *IDENTITY_ACTIONS])}")
        if pc.mode not in ("ask", "auto"):
            raise ConfigError(f"respond.policies[{i}].mode: ask or auto, not {pc.mode!r}")
        out.append(Policy(pc.name, pc.type, parse_duration(pc.duration), pc.target, LEVELS.index(pc.min_level),
                          frozenset(pc.rules), frozenset(pc.tags), pc.mode))
    return out


class RespondStage:
    """Turns a batch's detections into decisions, and links attempts to the decisions that stopped them."""

    def __init__(self, config: Config, db: Engine, inventory: Inventory, view: ActiveView | None = None,
                 notice: Notice | None = None):
        self.cfg = config.respond
        self.db = db
        self.inventory = inventory
        self.policies = compile_policies(config)
        self.view = view or ActiveView(db)
        self.breaker = CircuitBreaker(self.cfg.max_auto_bans_per_minute)
        self.max_us = parse_duration(self.cfg.max_duration)
        self.refused: dict[tuple[str, str], int] = {}  # protected targets refused, and when it was last logged
        self.notice = notice
        self.held_back = 0
        self.config = config
        self.identity = bool(config.microsoft.tenant_id)  # identity policies act only with the connector set up

    def __call__(self, batch: Batch) -> None:
        if not batch.detections:
            return
        self.view.refresh()
        now = int(time.time() * 1_000_000)
        planned: dict[tuple[str, str], Decision] = {}
        for det in batch.detections:
            ip = det.event.get("source.ip")
            if ip:  # an attempt from a banned source was stopped by that ban
                covering = self.view.for_ip(ip, max(det.timestamp, 1))
                if covering:
                    det.extra["decision_id"] = covering[0].id
            for pol in self.policies:
                if pol.type in IDENTITY_ACTIONS:
                    if self.identity and pol.applies(det) and det.event.get(pol.target):
                        self._identity(batch, pol, det)
                    continue
                if pol.applies(det):
                    dec = self._decide(pol, det, now, planned)
                    if dec is not None:
                        planned[(dec.scope, dec.value)] = dec
        batch.decisions.extend(planned.values())

    def _identity(self, batch: Batch, pol: Policy, det: Detection) -> None:
        """An identity policy: asked (waits on the incident) or, in auto mode, done after the commit; once a day
        per account and action."""
        from garrison.respond.identity import ask, perform, recently, protected

        user = str(det.event[pol.target])
        if protected(self.config, user):
            return
        reason = f"{pol.name}: {det.rule_title}"
        until = int(time.time() * 1e6) + pol.duration_us if pol.type == "block_signin" else None
        if pol.mode == "auto":
            def act() -> None:
                if not recently(self.db, pol.type, user):
                    perform(self.db, self.config, pol.type, user, "policy", reason, until=until)
            batch.after_commit.append(act)
        else:
            def asked(c: Any) -> None:
                if not recently(c, pol.type, user):
                    ask(c, pol.type, user, reason, until=until)
            batch.in_commit.append(asked)
            if self.notice:
                self.notice("high", f"Action waiting: {IDENTITY_ACTIONS[pol.type]} for {user}",
                            f"{det.rule_title}. Open the incident in the console to approve it, or: "
                            f"garrison act list, then garrison act approve ID.")

    def _decide(self, pol: Policy, det: Detection, now: int, planned: dict[tuple[str, str], Decision]) -> Decision | None:
        value = det.event.get(pol.target)
        if not value:
            return None
        scope = "ip" if pol.target.endswith(".ip") else "user"
        value = str(value)
        if (scope, value) in planned or self.view.for_value(scope, value, now):
            return None  # already decided
        why = protected_reason(scope, value, self.inventory)
        if why:
            if self.refused.get((scope, value), 0) < now - 3_600_000_000:  # said once an hour per target
                self.refused[(scope, value)] = now
                log.info("not banning %s (%s): %s", value, det.rule_title, why)
            return None
        simulated = self.cfg.dry_run
        if not simulated and not self.breaker.allow():
            self.held_back += 1
            if self.breaker.trip() and self.notice:
                self.notice("high", "Garrison's automatic-ban circuit breaker tripped",
                            f"More than {self.cfg.max_auto_bans_per_minute} automatic bans in a minute; "
                            f"further bans are held back and recorded as simulated. Check for a false-positive storm.")
            simulated = True
        n = offences(self.db, scope, value, now - ESCALATION_WINDOW_US) + 1
        duration = min(int(pol.duration_us * self.cfg.escalation_factor ** (n - 1)), self.max_us)
        return Decision(type=pol.type, scope=scope, value=value, origin="rule", reason=det.rule_title,
                        created_at=now, until=now + duration, simulated=simulated,
                        organization_id=det.event.get("organization.id") or "default", author=pol.name,
                        rule_id=det.rule_id, event_id=None, offence=n, extra={"event": det.event})
