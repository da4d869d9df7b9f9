"""The organisation's inventory: own and partner ranges, critical hosts, privileged users, departments.

YAML form::

    own_ranges: [10.0.0.0/8, 192.0.2.0/24]
    partner_ranges: [198.51.100.0/24]
    critical_hosts: [{name: dc01, ip: 10.0.0.10, criticality: 5}]
    users: [{name: alice, department: Finance, privileged: true, display_name: Alice Smith, email: alice@council.example}]

CSV form: columns ``kind,value,criticality,department,privileged`` where kind is
own_range, partner_range, critical_host or user.

Events gain ``garrison.source.zone`` / ``garrison.destination.zone``
(internal, partner or external), ``garrison.host.criticality``,
``garrison.user.privileged`` and ``garrison.user.department``.
"""

from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from garrison.errors import ConfigError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Private space, always counted as the organisation's own: RFC 1918, shared (CGNAT) and unique-local
# addresses. (ipaddress's is_private also covers documentation ranges, which are not ours.)
DEFAULT_INTERNAL = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                                       "fc00::/7")]


@dataclass
class Inventory:
    own: list[Network] = field(default_factory=list)
    partners: list[Network] = field(default_factory=list)
    hosts: dict[str, int] = field(default_factory=dict)  # name or ip -> criticality 1..5
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-case name -> facts

    def __post_init__(self) -> None:
        self.zone = lru_cache(maxsize=100_000)(self._zone)

    def _zone(self, ip: str) -> str:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return "unknown"
        if any(a in n for n in self.own):
            return "internal"
        if any(a in n for n in self.partners):
            return "partner"
        if any(a in n for n in DEFAULT_INTERNAL if n.version == a.version):
            return "internal"  # private space is never the Internet, whatever the inventory lists
        return "external"

    def is_protected(self, ip: str) -> bool:
        """Own, partner or critical: never to be blocked."""
        return self.zone(ip) in ("internal", "partner") or ip in self.hosts

    def enrich(self, ev: dict[str, Any]) -> None:
        for side in ("source", "destination"):
            ip = ev.get(side + ".ip")
            if ip:
                ev[f"garrison.{side}.zone"] = self.zone(ip)
        host = ev.get("host.name")
        crit = self.hosts.get(host.lower()) if isinstance(host, str) else None
        if crit is None and ev.get("destination.ip"):
            crit = self.hosts.get(ev["destination.ip"])
        if crit is not None:
            ev["garrison.host.criticality"] = crit
        user = ev.get("user.name")
        if isinstance(user, str) and self.users:
            facts = self.users.get(user.lower()) or self.users.get(user.split("@")[0].lower())
            if facts:
                ev["garrison.user.privileged"] = bool(facts.get("privileged"))
                if facts.get("department"):
                    ev["garrison.user.department"] = facts["department"]


def _net(value: str, where: str) -> Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from e


def load_inventory(path: str | Path | None) -> Inventory:
    inv = Inventory()
    if not path:
        return inv
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: inventory file not found")
    if p.suffix.lower() == ".csv":
        with open(p, newline="") as f:
            for i, row in enumerate(csv.DictReader(f), start=2):
                kind, value = (row.get("kind") or "").strip(), (row.get("value") or "").strip()
                where = f"{p}:line {i}"
                if kind == "own_range":
                    inv.own.append(_net(value, where))
                elif kind == "partner_range":
                    inv.partners.append(_net(value, where))
                elif kind == "critical_host":
                    inv.hosts[value.lower()] = int(row.get("criticality") or 5)
                elif kind == "user":
                    inv.users[value.lower()] = {"department": row.get("department") or None,
                                                "privileged": (row.get("privileged") or "").lower() in ("1", "true", "yes")}
                else:
                    raise ConfigError(f"{where}: unknown kind {kind!r}")
        return inv
    data = yaml.load(p.read_text(), Loader=_Loader) or {}  # libyaml's loader: a 5,000-staff inventory in 0.2 s, not 3.5 s
    inv.own = [_net(v, f"{p}:own_ranges") for v in data.get("own_ranges", [])]
    inv.partners = [_net(v, f"{p}:partner_ranges") for v in data.get("partner_ranges", [])]
    for h in data.get("critical_hosts", []):
        crit = int(h.get("criticality", 5))
        for key in ("name", "ip"):
            if h.get(key):
                inv.hosts[str(h[key]).lower()] = crit
    for u in data.get("users", []):
        inv.users[str(u["name"]).lower()] = {"department": u.get("department"), "privileged": bool(u.get("privileged")),
                                             **{k: str(u[k]) for k in ("display_name", "email", "title") if u.get(k)}}
    return inv
