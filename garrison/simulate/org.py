"""The simulated organisation: staff, departments, hosts and its address plan, drawn from a seed.

Everything the generators need to write consistent logs (a user always signs in from the same
workstation and home ISP, servers have fixed addresses) lives here, and ``inventory()`` writes the
matching inventory so enrichment, risk weighting and the never-ban list see the same organisation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DOMAIN = "council.example"
AD_DOMAIN = "COUNCIL"
OFFICE_PUBLIC = "81.2.69.161"
OWN_RANGES = ["10.0.0.0/8", "81.2.69.160/28"]
PARTNER_RANGES = ["198.51.100.0/24"]
DEPARTMENTS = ["Adult Social Care", "Children's Services", "Highways", "Finance", "Human Resources", "IT",
               "Planning", "Libraries", "Waste and Recycling", "Legal", "Housing", "Customer Services"]
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "karl", "linda",
         "mike", "nina", "oscar", "peggy", "quinn", "rupert", "sybil", "trent", "ursula", "victor", "wendy",
         "xavier", "yvonne", "zach", "amir", "bea", "chen", "dev", "ewa", "fatima", "gareth", "hana", "idris",
         "jo", "kofi", "lena", "marek", "nia", "owen", "priya", "rhys", "sian", "tomasz", "uma", "vikram"]
LAST = ["smith", "jones", "williams", "taylor", "brown", "davies", "evans", "wilson", "thomas", "johnson",
        "roberts", "robinson", "thompson", "wright", "walker", "white", "edwards", "hughes", "green", "hall",
        "lewis", "harris", "clarke", "patel", "jackson", "wood", "turner", "martin", "cooper", "hill", "ward",
        "morris", "moore", "clark", "lee", "king", "baker", "harrison", "morgan", "allen", "james", "scott"]
# Servers: name, address, criticality (1..5)
SERVERS = [("dc01", "10.0.0.10", 5), ("dc02", "10.0.0.11", 5), ("fs01", "10.0.1.20", 4), ("exch01", "10.0.1.30", 4),
           ("sql01", "10.0.1.40", 5), ("web01", "10.0.2.10", 3), ("bastion01", "10.0.2.22", 4),
           ("print01", "10.0.1.50", 1), ("app01", "10.0.1.60", 3), ("backup01", "10.0.1.70", 5)]
HOME_ISPS = ["86.{}.{}.{}", "92.{}.{}.{}", "31.{}.{}.{}", "90.{}.{}.{}", "2.{}.{}.{}"]  # UK consumer ranges


@dataclass(frozen=True)
class Person:
    name: str  # sam account name, first.last
    department: str
    workstation: str  # host name
    ws_ip: str
    home_ip: str
    privileged: bool

    @property
    def upn(self) -> str:
        return f"{self.name}@{DOMAIN}"


@dataclass
class Org:
    seed: int
    people: list[Person]
    admins: list[Person]
    servers: list[tuple[str, str, int]] = field(default_factory=lambda: list(SERVERS))

    def fqdn(self, host: str) -> str:
        return f"{host.upper()}.council.local" if not host.startswith("WS-") else f"{host}.council.local"

    def inventory(self) -> dict[str, Any]:
        return {
            "own_ranges": OWN_RANGES, "partner_ranges": PARTNER_RANGES,
            "critical_hosts": [{"name": self.fqdn(n).lower(), "ip": ip, "criticality": c} for n, ip, c in self.servers],
            "users": [{"name": p.name, "department": p.department, "privileged": p.privileged} for p in self.people],
        }


def build_org(seed: int, staff: int = 5000) -> Org:
    rng = random.Random(f"org-{seed}")
    names: set[str] = set()
    people = []
    while len(people) < staff:
        name = f"{rng.choice(FIRST)}.{rng.choice(LAST)}"
        if name in names:
            name = f"{name}{len([n for n in names if n.startswith(name)]) + 1}"
        names.add(name)
        i = len(people)
        dept = DEPARTMENTS[0] if i == 0 else rng.choice(DEPARTMENTS)
        privileged = dept == "IT" and rng.random() < 0.15
        isp = rng.choice(HOME_ISPS).format(rng.randrange(1, 255), rng.randrange(256), rng.randrange(1, 255))
        people.append(Person(name, dept, f"WS-{i:05d}", f"10.{10 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}",
                             isp, privileged))
    admins = [p for p in people if p.privileged] or people[:3]
    return Org(seed, people, admins)


def us(dt: datetime) -> int:
    return int(dt.replace(tzinfo=dt.tzinfo or timezone.utc).timestamp() * 1_000_000)


def iso(t_us: int) -> str:
    return datetime.fromtimestamp(t_us / 1e6, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bsd(t_us: int) -> str:
    return f"{datetime.fromtimestamp(t_us / 1e6, tz=timezone.utc):%b %e %H:%M:%S}"


def clf(t_us: int) -> str:
    return f"{datetime.fromtimestamp(t_us / 1e6, tz=timezone.utc):%d/%b/%Y:%H:%M:%S} +0000"


def public_ip(rng: random.Random) -> str:
    """A random public IPv4 address outside the organisation's and the special-purpose ranges."""
    while True:
        a = rng.randrange(1, 224)
        if a in (10, 127, 100, 169, 172, 192, 198, 203, 81):
            continue
        return f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
