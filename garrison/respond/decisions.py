"""Decisions in the state database, and the in-memory view that answers bouncers quickly.

``ActiveView`` keeps every active decision in memory (a dict per exact value, a list of
networks for ranges) and refreshes itself incrementally from ``updated_at``, so a lookup
costs a dict access and a ban made by any process reaches it within one refresh.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, func, select, update

from garrison.errors import GarrisonError
from garrison.model.decision import SCOPES, Decision
from garrison.store import state as S
from garrison.store.records import audit, insert_decisions, now_us


def _row(r: Any) -> Decision:
    return Decision(type=r["type"], scope=r["scope"], value=r["value"], origin=r["origin"], reason=r["reason"],
                    created_at=r["created_at"], until=r["until"], id=r["id"], simulated=bool(r["simulated"]),
                    organization_id=r["organization_id"], author=r["author"], rule_id=r["rule_id"],
                    event_id=r["event_id"], offence=r["offence"], deleted_at=r["deleted_at"])


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")


def normalise_target(scope: str, value: str) -> str:
    """Validate a decision's target; returns the canonical spelling."""
    if scope not in SCOPES:
        raise GarrisonError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    v = value.strip()
    try:
        if scope == "ip":
            return str(ipaddress.ip_address(v))
        if scope == "range":
            return str(ipaddress.ip_network(v, strict=False))
    except ValueError as e:
        raise GarrisonError(f"{value!r} is not a valid {scope}: {e}") from None
    if scope == "country":
        if len(v) != 2 or not v.isalpha():
            raise GarrisonError(f"{value!r} is not a two-letter country code")
        return v.upper()
    if scope == "as":
        v = v.upper().removeprefix("AS")
        if not v.isdigit():
            raise GarrisonError(f"{value!r} is not an AS number")
        return v
    if scope in ("email", "domain"):
        v = v.lower().strip(".<>")
        domain = v.rpartition("@")[2] if scope == "email" else v
        if not _DOMAIN.fullmatch(domain) or (scope == "email" and (v.count("@") != 1 or not v.partition("@")[0])):
            raise GarrisonError(f"{value!r} is not a valid {'mail address' if scope == 'email' else 'domain name'}")
        return v
    if not v:
        raise GarrisonError("empty user name")
    return v


def offences(engine: Engine, scope: str, value: str, since_us: int) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(S.decisions).where(
            S.decisions.c.scope == scope, S.decisions.c.value == value, S.decisions.c.created_at >= since_us,
            S.decisions.c.simulated == 0)).scalar() or 0)


def add_decision(engine: Engine, d: Decision, actor: str) -> Decision:
    with engine.begin() as c:
        insert_decisions(c, [d])
        audit(c, actor, "decision.add", f"{d.scope}:{d.value}",
              {"id": d.id, "type": d.type, "until": d.until, "reason": d.reason, "simulated": d.simulated})
    return d


def delete_decisions(engine: Engine, value: str | None = None, decision_id: int | None = None,
                     actor: str = "analyst") -> int:
    """Lift active decisions on a value (or one by id). Returns how many."""
    now = now_us()
    cond = [S.decisions.c.deleted_at.is_(None), S.decisions.c.until > now]
    if decision_id is not None:
        cond.append(S.decisions.c.id == decision_id)
    elif value is not None:
        cond.append(S.decisions.c.value == value)
    else:
        raise GarrisonError("name a value or a decision id to unban")
    with engine.begin() as c:
        n = c.execute(update(S.decisions).where(and_(*cond)).values(deleted_at=now, updated_at=now)).rowcount
        audit(c, actor, "decision.delete", value or f"id:{decision_id}", {"count": n})
    return n


def list_decisions(engine: Engine, active_only: bool = True, limit: int = 1000) -> list[Decision]:
    now = now_us()
    q = select(S.decisions).order_by(S.decisions.c.id.desc()).limit(limit)
    if active_only:
        q = q.where(S.decisions.c.deleted_at.is_(None), S.decisions.c.until > now)
    with engine.connect() as c:
        return [_row(r) for r in c.execute(q).mappings()]


@dataclass
class ActiveView:
    """Every decision changed recently or still active, indexed for lookups; refreshed incrementally."""

    engine: Engine
    lookup_interval: float = 0.05  # high-rate lookups share one refresh per interval
    by_id: dict[int, Decision] = field(default_factory=dict)
    exact: dict[tuple[str, str], dict[int, Decision]] = field(default_factory=dict)  # (scope, value) -> decisions
    ranges: dict[int, tuple[Any, Decision]] = field(default_factory=dict)  # id -> (network, decision)
    _seen: int = 0
    _refreshed_at: int = 0
    _last: float = -1e9
    _version: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, min_interval: float = 0.0) -> None:
        """Pick up decisions written since the last refresh (by any process), at most every ``min_interval`` s.

        Rows are matched on (id, updated_at) over a 30 s overlap, so a writer whose transaction committed
        after a later-stamped one is not missed, and unchanged rows are not fetched again.
        """
        with self._lock:
            mono = time.monotonic()
            if mono - self._last < min_interval:
                return
            self._last = mono
            # a row is stamped before its transaction commits, and a loaded machine can take seconds between
            # the two: look 30 s behind the previous refresh (only ids and stamps; unchanged rows aren't fetched)
            since = self._refreshed_at - 30_000_000 if self._refreshed_at else -1
            self._refreshed_at = now_us()
            with self.engine.connect() as c:
                stamps = c.execute(select(S.decisions.c.id, S.decisions.c.updated_at)
                                   .where(S.decisions.c.updated_at > since)).all()
                need = [i for i, u in stamps if self._version.get(i) != u]
                for k in range(0, len(need), 900):
                    for r in c.execute(select(S.decisions).where(S.decisions.c.id.in_(need[k:k + 900]))).mappings():
                        self._put(_row(r))
                        self._version[r["id"]] = r["updated_at"]
                        self._seen = max(self._seen, r["updated_at"])
            self._expire()

    def _put(self, d: Decision) -> None:
        assert d.id is not None
        self.by_id[d.id] = d
        bucket = self.exact.setdefault((d.scope, d.value), {})
        bucket[d.id] = d
        if d.scope == "range":
            self.ranges[d.id] = (ipaddress.ip_network(d.value), d)

    def _expire(self, keep_us: int = 3_600_000_000) -> None:
        """Forget decisions over an hour past their end (bouncers have had them as deleted by then)."""
        cut = now_us() - keep_us
        for i in [i for i, d in self.by_id.items() if (d.deleted_at or d.until) < cut]:
            d = self.by_id.pop(i)
            self._version.pop(i, None)
            self.exact.get((d.scope, d.value), {}).pop(i, None)
            self.ranges.pop(i, None)

    def active(self, now: int | None = None) -> list[Decision]:
        now = now or now_us()
        return [d for d in self.by_id.values() if d.active(now)]

    def for_ip(self, ip: str, now: int | None = None) -> list[Decision]:
        """Active decisions covering an address: on the IP itself, or a range holding it."""
        now = now or now_us()
        out = [d for d in self.exact.get(("ip", ip), {}).values() if d.active(now)]
        if self.ranges:
            try:
                a = ipaddress.ip_address(ip)
            except ValueError:
                return out
            out += [d for net, d in self.ranges.values() if d.active(now) and a.version == net.version and a in net]
        return out

    def for_value(self, scope: str, value: str, now: int | None = None) -> list[Decision]:
        now = now or now_us()
        return [d for d in self.exact.get((scope, value), {}).values() if d.active(now)]

    def changed_between(self, start: int, end: int) -> tuple[list[Decision], list[Decision]]:
        """(created and still active, ended) in (start, end] — a bouncer's stream delta."""
        new, gone = [], []
        for d in self.by_id.values():
            if d.simulated:
                continue
            ended_at = d.deleted_at if d.deleted_at is not None else d.until
            if start < ended_at <= end:
                gone.append(d)
            elif start < d.created_at <= end and d.active(end):
                new.append(d)
        return new, gone


__all__ = ["ActiveView", "add_decision", "delete_decisions", "list_decisions", "normalise_target", "offences",
           "insert_decisions", "audit"]
