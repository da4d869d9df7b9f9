"""A reported phish's campaign: who else received it, who clicked, who reported it, and how new its sender is.

Searched in the events Garrison holds, through the search language (every value bound, never SQL text):
- deliveries: mail logs (postfix, Microsoft 365 message events from Sentinel or the audit log) with the same
  Internet message id, the same sender, or the same subject from the sender's domain;
- clicks: proxy, firewall, DNS or Safe Links events naming one of the message's link hosts;
- reports: other analysed messages from the same sender or with the same message id.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from collections.abc import Callable
from urllib.parse import urlsplit

from garrison.model import Event
from garrison.store.events import EventStore
from garrison.store.search import search

DAY_US = 86_400_000_000
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_NOT_HOSTS = ("www.w3.org", "schemas.microsoft.com", "aka.ms")  # links every message carries, clicked by nobody


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hosts(ev: Event) -> list[str]:
    out: list[str] = []
    for link in ev.get("garrison.mail.links") or []:
        url = str(link.get("url") or "")
        try:
            host = (urlsplit(url if "://" in url[:12] else "http://" + url).hostname or "").lower()
        except ValueError:
            continue
        if host and host not in out and host not in _NOT_HOSTS:
            out.append(host)
    return out[:20]


@dataclass
class Campaign:
    sender: str
    subject: str
    message_id: str
    hosts: list[str]
    recipients: list[str] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    clicks: list[dict[str, Any]] = field(default_factory=list)
    reporters: list[str] = field(default_factory=list)
    sender_domain_first_seen: int | None = None  # epoch us, in our own mail logs (None: never before this campaign)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find(store: EventStore, ev: Event, days: int = 30, now_us: int | None = None, limit: int = 1000) -> Campaign:
    now = now_us or int(time.time() * 1e6)
    since = now - days * DAY_US
    sender = str(ev.get("email.from.address") or "").lower()
    subject = str(ev.get("email.subject") or "")
    mid = str(ev.get("email.message_id") or "")
    c = Campaign(sender, subject, mid, _hosts(ev))
    domain = sender.rpartition("@")[2]
    if not _DOMAIN.fullmatch(domain):  # used unquoted, as a wildcard pattern: only a plain domain name may go there
        domain = ""
    terms = []
    if mid:
        terms.append(f"email.message_id:{_q(mid)}")
    if sender:
        terms.append(f"email.from.address:{_q(sender)}")
    if subject and domain:
        terms.append(f"(email.subject:{_q(subject)} AND email.from.address:*@{domain})")
    if terms:
        found = search(store, f"event.category:email AND NOT event.dataset:email.message AND ({' OR '.join(terms)})",
                       since, now + DAY_US, limit=limit)
        for d in found.events:
            to = d.get("email.to.address")
            for addr in to if isinstance(to, list) else [to]:
                if addr and str(addr).lower() not in c.recipients:
                    c.recipients.append(str(addr).lower())
            c.deliveries.append({"to": to, "at": d.get("@timestamp"), "action": d.get("event.action"),
                                 "dataset": d.get("event.dataset"), "source_ip": d.get("source.ip"),
                                 "message_id": d.get("email.message_id")})
        if not c.message_id:  # a report forwarded inline loses the Message-ID; the mail log kept it
            ids = Counter(str(x["message_id"]) for x in c.deliveries if x["message_id"])
            c.message_id = ids.most_common(1)[0][0] if ids else ""
        reports = search(store, f"event.dataset:email.message AND ({' OR '.join(terms[:2])})", since, now + DAY_US, limit=limit)
        c.reporters = sorted({str(r["email.reporter.address"]) for r in reports.events if r.get("email.reporter.address")})
    for host in c.hosts:
        q = f"url.domain:{_q(host)} OR destination.domain:{_q(host)} OR dns.question.name:{_q(host)}"
        for d in search(store, q, since, now + DAY_US, limit=limit).events:
            c.clicks.append({"host": host, "user": d.get("user.name"), "source_ip": d.get("source.ip"),
                             "at": d.get("@timestamp"), "dataset": d.get("event.dataset"), "outcome": d.get("event.outcome")})
    if domain:
        c.sender_domain_first_seen = first_seen(store, domain, now, limit)
    return c


def first_seen(store: EventStore, domain: str, now_us: int | None = None, limit: int = 1000) -> int | None:
    """When mail from this domain first reached us in the past year, by the mail logs held (None: never)."""
    now = now_us or int(time.time() * 1e6)
    if not _DOMAIN.fullmatch(domain):
        return None
    seen = search(store, f"event.category:email AND NOT event.dataset:email.message AND email.from.address:*@{domain}",
                  now - 365 * DAY_US, now + DAY_US, limit=limit)
    times = [t for d in seen.events if isinstance(t := d.get("@timestamp"), int)]
    return min(times) if times else None


def newly_seen(open_store: Callable[[], EventStore], days: int) -> Callable[[str], str | None]:
    """For the verdict: "today" or "3 days ago" when a sender's domain is that new in our mail logs, else None.
    Without any mail logs in the store nothing is new (every domain would be). The store is opened on first use."""
    opened: list[EventStore] = []

    def check(domain: str) -> str | None:
        if not opened:
            opened.append(open_store())
        store = opened[0]
        now = int(time.time() * 1e6)
        if search(store, "event.category:email AND NOT event.dataset:email.message", now - 365 * DAY_US, now + DAY_US,
                  count_only=True).count == 0:
            return None
        first = first_seen(store, domain, now)
        if first is None:
            return "just now, with this message"
        age = (now - first) / DAY_US
        return None if age > days else "today" if age < 1 else f"{age:.0f} days ago"
    return check
