"""A decision: a remediation (ban, captcha, throttle) on a target, with an origin, a reason and an expiry."""

from __future__ import annotations

from dataclasses import dataclass, field

TYPES = ("ban", "captcha", "throttle")
SCOPES = ("ip", "range", "country", "as", "user", "email", "domain")  # email, domain: for mail gateways and DNS/proxy filters
ORIGINS = ("rule", "incident", "analyst", "feed")
# CrowdSec's spelling of scopes on the wire
LAPI_SCOPE = {"ip": "Ip", "range": "Range", "country": "Country", "as": "AS", "user": "Username", "email": "Email",
              "domain": "Domain"}


@dataclass(slots=True)
class Decision:
    type: str
    scope: str
    value: str
    origin: str
    reason: str  # the scenario: a rule title, an incident, an analyst's note
    created_at: int  # epoch us
    until: int  # epoch us
    id: int | None = None
    simulated: bool = False  # dry-run: recorded, never enforced
    organization_id: str = "default"
    author: str | None = None
    rule_id: str | None = None
    event_id: int | None = None
    offence: int = 1  # how many times this target has been decided on (escalation)
    deleted_at: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def active(self, now_us: int) -> bool:
        """In force at ``now_us`` (which may be an event's time: a ban doesn't cover what came before it)."""
        return (self.deleted_at is None or self.deleted_at > now_us) and self.created_at <= now_us < self.until \
            and not self.simulated


def go_duration(us: int) -> str:
    """A remaining time in Go's duration format, as CrowdSec writes it: '3h59m58.123s'."""
    us = max(0, us)
    h, rem = divmod(us, 3_600_000_000)
    m, rem = divmod(rem, 60_000_000)
    s = rem / 1_000_000
    out = ""
    if h:
        out += f"{h}h"
    if h or m:
        out += f"{m}m"
    return out + (f"{s:.6f}".rstrip("0").rstrip(".") if s else "0") + "s"


def parse_duration(text: str) -> int:
    """'4h', '30m', '7d', '90s', '1h30m', '2w' -> microseconds."""
    import re

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    t = text.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", t)
    if not parts or "".join(a + b for a, b in parts) != t.replace(" ", ""):
        raise ValueError(f"{text!r} is not a duration like 4h, 30m, 7d or 1h30m")
    return int(sum(float(n) * units[u] for n, u in parts) * 1_000_000)
