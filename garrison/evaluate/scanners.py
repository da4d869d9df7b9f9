"""A labelled set of link-scanner and human visits to simulation links, built from what the big mail filters are
documented to do, replayed through Garrison's tracking to measure the precision and recall of "a person clicked".

Scanners (label: not a person), each as its vendor describes it:
- Defender for Office 365 Safe Links: time-of-delivery detonation, a GET from Microsoft's ranges with a desktop
  browser's user agent, seconds after delivery; some detonations render the page and move the mouse;
- Proofpoint URL Defense: a GET from Proofpoint's ranges by an HTTP library, seconds to minutes after delivery;
- Mimecast URL Protect: a HEAD then a GET from Mimecast's ranges, within half a minute;
- Barracuda Link Protection: a GET from Barracuda's ranges within seconds;
- Outlook's link preview (a "Microsoft Office" user agent) and browsers' prefetch (Sec-Purpose: prefetch), from
  inside, when a person merely opens the message;
- an unknown sandbox from a cloud address that opens every link of the message within a second;
- a headless browser (HeadlessChrome) a minute after delivery;
- rarely (1 in 91 scans), an evasive sandbox that renders the page and moves the mouse from a residential proxy
  minutes after delivery: nothing tells it from a person, and it is counted as one.
People: a desktop browser from inside or a phone on a mobile network, minutes to hours after delivery, whose
page reports a move, key or touch; some submit the form. Two kinds are hard on purpose: a person with scripts
blocked (no beacon), and a person who clicks ten seconds after delivery.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from garrison.awareness.tracking import Visit, record
from garrison.store import state_awareness as A

US = 1_000_000
EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"


@dataclass
class Step:
    kind: str  # click open beacon submit_js
    seconds: float  # after delivery
    ip: str
    ua: str
    method: str = "GET"
    headers: dict[str, str] | None = None
    link: str = "1"


def _scanner(rng: random.Random) -> tuple[str, list[Step]]:
    k = rng.choices(["safelinks", "safelinks_render", "proofpoint", "mimecast", "barracuda", "preview", "prefetch",
                     "sandbox_all_links", "headless", "evasive_sandbox"], [10, 10, 10, 10, 10, 10, 10, 10, 10, 1])[0]
    if k == "evasive_sandbox":  # renders and moves the mouse from a residential proxy, minutes later: looks like a person
        ip, t = f"86.{rng.randint(128, 191)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.uniform(120, 600)
        return k, [Step("click", t, ip, CHROME), Step("beacon", t + 2, ip, CHROME)]
    if k == "safelinks":
        return k, [Step("click", rng.uniform(1, 9), f"40.107.{rng.randint(0, 255)}.{rng.randint(1, 254)}", EDGE)]
    if k == "safelinks_render":
        ip = f"52.{rng.randint(100, 103)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        t = rng.uniform(2, 12)
        return k, [Step("click", t, ip, CHROME), Step("beacon", t + 1.5, ip, CHROME)]
    if k == "proofpoint":
        return k, [Step("click", rng.uniform(1, 600), f"148.163.{rng.randint(128, 159)}.{rng.randint(1, 254)}",
                        rng.choice(["python-requests/2.31.0", "Java/17.0.8"]))]
    if k == "mimecast":
        ip, t = f"195.130.217.{rng.randint(1, 254)}", rng.uniform(1, 30)
        return k, [Step("click", t, ip, CHROME, "HEAD"), Step("click", t + 0.4, ip, CHROME)]
    if k == "barracuda":
        return k, [Step("click", rng.uniform(1, 12), f"64.235.{rng.randint(144, 159)}.{rng.randint(1, 254)}", CHROME)]
    if k == "preview":
        return k, [Step("click", rng.uniform(60, 7200), f"10.20.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)")]
    if k == "prefetch":
        return k, [Step("click", rng.uniform(60, 7200), f"10.20.{rng.randint(0, 255)}.{rng.randint(1, 254)}", EDGE,
                        headers={"sec-purpose": "prefetch;prerender"})]
    if k == "sandbox_all_links":
        ip, t = f"34.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.uniform(30, 300)
        return k, [Step("click", t, ip, CHROME, link="1"), Step("click", t + 0.6, ip, CHROME, link="2")]
    return k, [Step("click", rng.uniform(30, 120), f"35.{rng.randint(180, 240)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36")]


def _human(rng: random.Random) -> tuple[str, list[Step]]:
    k = rng.choices(["desktop", "phone", "quick_reader", "scripts_blocked", "very_fast"], [50, 25, 15, 6, 4])[0]
    inside = f"10.20.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    t = {"desktop": rng.uniform(120, 14400), "phone": rng.uniform(300, 20000), "quick_reader": rng.uniform(20, 60),
         "scripts_blocked": rng.uniform(120, 3600), "very_fast": rng.uniform(8, 12)}[k]
    ip, ua = (f"82.132.{rng.randint(0, 255)}.{rng.randint(1, 254)}", IPHONE) if k == "phone" else (inside, EDGE)
    steps = [Step("click", t, ip, ua)]
    if k != "scripts_blocked":
        steps.append(Step("beacon", t + rng.uniform(0.5, 6), ip, ua))
        if rng.random() < 0.3:
            steps.append(Step("submit_js", t + rng.uniform(10, 60), ip, ua))
    return k, steps


def measure(engine: Engine, n: int = 1000, seed: int = 21, human_share: float = 0.25) -> dict[str, Any]:
    """Replay ``n`` recipients' visits (every one pre-scanned by a filter as most councils' mail is; a share of
    them also clicked by the person); precision and recall of "a person clicked", per pattern."""
    rng = random.Random(seed)
    base = int(time.time() * US) - 30 * 86400 * US
    with engine.begin() as c:
        cid = c.execute(insert(A.aw_campaigns).values(
            name=f"scanner-replay-{seed}-{secrets.token_hex(3)}", template="invoice", status="done", created_at=base,
            created_by="evaluate", start_at=base, window_hours=1, settings="{}")).inserted_primary_key[0]
    truth: dict[str, tuple[bool, list[str]]] = {}
    plans = []
    for i in range(n):
        token, delivered = secrets.token_urlsafe(16), base + i * 10 * US
        kinds: list[str] = []
        steps: list[tuple[Step, str]] = []
        for _ in range(rng.choice([1, 1, 2])):
            k, s = _scanner(rng)
            kinds.append(k)
            steps += [(x, k) for x in s]
        person = rng.random() < human_share
        if person:
            k, s = _human(rng)
            kinds.append("human:" + k)
            steps += [(x, "human:" + k) for x in s]
        truth[token] = (person, kinds)
        plans.append((token, delivered, sorted(steps, key=lambda s: s[0].seconds)))
    with engine.begin() as c:
        c.execute(insert(A.aw_targets), [{"campaign_id": cid, "email": f"r{i}@council.example", "name": f"R {i}", "department": "x",
                                          "token": t, "send_at": d, "sent_at": d, "delivered_at": d, "expires_at": d + 86400 * 30 * US,
                                          "scanner_hits": 0} for i, (t, d, _) in enumerate(plans)])
    for token, delivered, steps in plans:
        for s, _ in steps:
            record(engine, token, s.kind, Visit(s.method, s.ip, s.ua, s.headers or {}, s.link, delivered + int(s.seconds * US)))
    whose = {(t, s.ip): k for t, _, steps in plans for s, k in steps}
    with engine.connect() as c:
        rows = c.execute(select(A.aw_targets.c.token, A.aw_targets.c.clicked_at, A.aw_targets.c.any_click_at)
                         .where(A.aw_targets.c.campaign_id == cid)).all()
        humans = c.execute(select(A.aw_targets.c.token, A.aw_events.c.ip).join(A.aw_events, A.aw_events.c.target_id == A.aw_targets.c.id)
                           .where(A.aw_targets.c.campaign_id == cid, A.aw_events.c.label == "human")).all()
    clicked = {r[0]: r[1] is not None for r in rows}
    raw = sum(1 for r in rows if r[2] is not None)
    tp = sum(1 for t, (p, _) in truth.items() if p and clicked[t])
    fp = sum(1 for t, (p, _) in truth.items() if not p and clicked[t])
    fn = sum(1 for t, (p, _) in truth.items() if p and not clicked[t])
    by: dict[str, list[int]] = {}
    fooled_by = {(t, whose.get((t, ip))) for t, ip in humans}
    for t, (_person, kinds) in truth.items():
        for k in kinds:
            hit = by.setdefault(k, [0, 0])
            hit[0] += 1
            hit[1] += int(clicked[t]) if k.startswith("human:") else int((t, k) in fooled_by)
    return {"recipients": n, "people_who_clicked": tp + fn, "counted_as_people": tp + fp, "true_positives": tp,
            "false_positives": fp, "false_negatives": fn, "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None, "raw_click_rate": round(100 * raw / n, 1),
            "people_click_rate": round(100 * (tp + fp) / n, 1), "true_click_rate": round(100 * (tp + fn) / n, 1),
            "patterns": {k: {"recipients": v[0], ("counted as a person" if k.startswith("human:") else "wrongly counted"): v[1]}
                         for k, v in sorted(by.items())}}
