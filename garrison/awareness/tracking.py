"""What each recipient of a simulation did, and whether it was a person: every visit is labelled human, scanner or
unknown, with the evidence.

Scanner evidence (any one): a HEAD or prefetch request; a link checker's or headless browser's user agent; an
address of a mail filter's published range; a visit sooner after delivery than a person can read; every link of
the message opened at once. Human evidence: the landing page's script ran in a browser and reported the reader
moving, typing or scrolling (a beacon), from a visit with no scanner evidence. Anything else is unknown. A click
counts as a person's only on human evidence; both rates are reported, with and without.

Nothing typed on a landing page is read or stored: its inputs have no names, so a browser sends none of them,
and the submit handler never reads the request body.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update

from garrison.awareness.library import scanners
from garrison.store import state_awareness as A

US = 1_000_000


@dataclass
class Visit:
    method: str
    ip: str
    user_agent: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    link: str = "1"
    at: int = 0


@functools.cache
def _ranges() -> list[tuple[Any, str]]:
    return [(ipaddress.ip_network(n), owner) for owner, nets in scanners()["ranges"].items() for n in nets]


def scanner_evidence(v: Visit, delivered_at: int | None, recent_links: set[str]) -> list[str]:
    """Why this visit is a machine's, or [] when nothing says so."""
    s = scanners()
    why = []
    if v.method == "HEAD":
        why.append("a HEAD request, which only checks that a link works")
    purpose = (v.headers.get("purpose") or v.headers.get("sec-purpose") or v.headers.get("x-moz") or "").lower()
    if "prefetch" in purpose or "preview" in purpose:
        why.append(f"a {purpose} request made before anyone clicked")
    ua = v.user_agent.lower()
    if not ua:
        why.append("no user agent, which no browser omits")
    elif hit := next((u for u in s["user_agents"] if u in ua), None):
        why.append(f"a link checker's user agent ({hit.strip('/')})")
    try:
        addr = ipaddress.ip_address(v.ip)
        owner = next((o for n, o in _ranges() if addr.version == n.version and addr in n), None)
        if owner:
            why.append(f"an address of {owner}")
    except ValueError:
        pass
    if delivered_at is not None and 0 <= v.at - delivered_at < s["min_seconds_after_delivery"] * US:
        why.append(f"{(v.at - delivered_at) / US:.0f} s after delivery, before a person could have read it")
    if len(recent_links | {v.link}) >= 2:
        why.append("every link in the message opened at once")
    return why


def _target(engine: Engine, token: str, now: int) -> dict[str, Any] | None:
    with engine.connect() as c:
        row = c.execute(select(A.aw_targets).where(A.aw_targets.c.token == token)).mappings().first()
    if row is None or row["expires_at"] < now or row["sent_at"] is None:
        return None
    return dict(row)


def _add_risk(c: Any, email: str, points: int, now: int) -> None:
    """A person who gave their password to a simulation carries some risk, which decays as any entity's does."""
    from garrison.store import state as S

    user = email.split("@")[0].lower()
    row = c.execute(select(S.entity_risk.c.score, S.entity_risk.c.state).where(
        S.entity_risk.c.kind == "user", S.entity_risk.c.value == user)).first()
    state = orjson.loads(row[1]) if row else {"rules": {}, "tactics": []}
    state["rules"]["garrison.awareness.submitted"] = now
    if row:
        c.execute(update(S.entity_risk).where(S.entity_risk.c.kind == "user", S.entity_risk.c.value == user).values(
            score=row[0] + points, updated_at=now, state=orjson.dumps(state).decode()))
    else:
        c.execute(insert(S.entity_risk).values(kind="user", value=user, score=points, updated_at=now,
                                               state=orjson.dumps(state).decode()))


def record(engine: Engine, token: str, kind: str, v: Visit, risk_points: int = 0) -> tuple[dict[str, Any] | None, str, list[str]]:
    """Record an open, click, beacon or submission; returns the target (None: unknown or expired token), label, reasons."""
    now = v.at or int(time.time() * US)
    v.at = now
    t = _target(engine, token, now)
    if t is None:
        return None, "unknown", ["no such link, or it expired"]
    window = scanners()["all_links_within_seconds"] * US
    with engine.begin() as c:
        recent = {r[0] for r in c.execute(select(A.aw_events.c.link).where(
            A.aw_events.c.target_id == t["id"], A.aw_events.c.kind == "click", A.aw_events.c.at >= now - window))}
        why = scanner_evidence(v, t["delivered_at"], recent if kind == "click" else set())
        if why:
            label = "scanner"
        elif kind in ("beacon", "submit_js"):
            label, why = "human", ["the page's script ran in a browser and the reader moved, typed or scrolled"]
        else:
            label = "unknown"
        c.execute(insert(A.aw_events).values(target_id=t["id"], kind=kind.removesuffix("_js"), at=now, ip=v.ip[:64],
                                             user_agent=v.user_agent[:256], method=v.method[:8], link=v.link[:32],
                                             label=label, reasons=orjson.dumps(why).decode()))
        values: dict[str, Any] = {}
        if kind == "open" and t["opened_at"] is None and label != "scanner":
            values["opened_at"] = now
        if kind == "click":
            if t["any_click_at"] is None:
                values["any_click_at"] = now
            if label == "scanner":
                values["scanner_hits"] = t["scanner_hits"] + 1
        if label == "human" and t["clicked_at"] is None:
            values["clicked_at"] = now  # a person's click: confirmed by the page's script
        if kind.startswith("submit") and label != "scanner" and t["submitted_at"] is None:
            values["submitted_at"] = now
            if risk_points:
                _add_risk(c, t["email"], risk_points, now)
        if values:
            c.execute(update(A.aw_targets).where(A.aw_targets.c.id == t["id"]).values(**values))
    return t, label, why
