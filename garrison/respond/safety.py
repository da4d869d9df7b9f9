"""What must never be blocked, and the circuit breaker on automatic bans."""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from dataclasses import dataclass, field

from garrison.model.inventory import DEFAULT_INTERNAL, Inventory


def protected_reason(scope: str, value: str, inventory: Inventory) -> str | None:
    """Why a target must not be banned (own estate, partners, critical services, special addresses), or None."""
    if scope == "ip":
        try:
            a = ipaddress.ip_address(value)
        except ValueError:
            return None
        if a.is_loopback or a.is_link_local or a.is_multicast or a.is_unspecified or a.is_reserved:
            return "a special-purpose address"
        zone = inventory.zone(value)
        if zone == "internal":
            return "inside the organisation's own ranges" if any(a in n for n in inventory.own if n.version == a.version) \
                else "a private address"
        if zone == "partner":
            return "inside a partner's range"
        if value in inventory.hosts:
            return "a critical host in the inventory"
        return None
    if scope == "range":
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None
        if net.prefixlen < (8 if net.version == 4 else 16):
            return "a range too wide to ban"
        for own in inventory.own:
            if own.version == net.version and net.overlaps(own):
                return f"overlapping the organisation's range {own}"
        for p in inventory.partners:
            if p.version == net.version and net.overlaps(p):
                return f"overlapping the partner range {p}"
        if any(n.version == net.version and net.overlaps(n) for n in DEFAULT_INTERNAL):
            return "a private range"
        for host in inventory.hosts:
            try:
                if ipaddress.ip_address(host) in net:
                    return f"holding the critical host {host}"
            except ValueError:
                continue
        return None
    if scope == "user" and inventory.users.get(value.lower(), {}).get("privileged"):
        return None  # privileged users may be blocked; it is their accounts that attackers want
    return None


@dataclass
class CircuitBreaker:
    """At most ``limit`` automatic bans per minute; beyond that they are held back and the breaker trips."""

    limit: int
    stamps: deque[float] = field(default_factory=deque)
    tripped_at: float | None = None

    def allow(self, now: float | None = None) -> bool:
        now = now if now is not None else time.monotonic()
        while self.stamps and now - self.stamps[0] > 60:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            return False
        self.stamps.append(now)
        return True

    def trip(self, now: float | None = None) -> bool:
        """Mark the breaker tripped; True the first time in a minute (to alert once)."""
        now = now if now is not None else time.monotonic()
        first = self.tripped_at is None or now - self.tripped_at > 60
        if first:
            self.tripped_at = now
        return first
