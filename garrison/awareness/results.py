"""Results of simulations: per campaign and department, click, submit and report rates (clicks counted with and
without scanners), time to first report, and the trend across campaigns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from garrison.store import state_awareness as A

US = 1_000_000


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    sent = [r for r in rows if r["delivered_at"] is not None]
    n = len(sent)

    def pct(key: str) -> float | None:
        return round(100 * sum(1 for r in sent if r[key] is not None) / n, 1) if n else None
    first_sent = min((r["sent_at"] for r in sent), default=None)
    reports = sorted(r["reported_at"] for r in sent if r["reported_at"] is not None)
    return {"targets": len(rows), "delivered": n, "clicked": pct("clicked_at"), "clicked_with_scanners": pct("any_click_at"),
            "submitted": pct("submitted_at"), "reported": pct("reported_at"),
            "scanner_visits": sum(r["scanner_hits"] or 0 for r in sent),
            "first_report_minutes": round((reports[0] - first_sent) / 60 / US, 1) if reports and first_sent else None}


def campaign_results(engine: Engine, name: str) -> dict[str, Any]:
    with engine.connect() as c:
        camp = c.execute(select(A.aw_campaigns).where(A.aw_campaigns.c.name == name)).mappings().first()
        if camp is None:
            from garrison.errors import GarrisonError

            raise GarrisonError(f"no campaign {name!r} (see: garrison campaigns list)")
        rows = [dict(r) for r in c.execute(select(A.aw_targets).where(A.aw_targets.c.campaign_id == camp["id"])).mappings()]
    by_dept: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_dept.setdefault(r["department"], []).append(r)
    return {"campaign": name, "template": camp["template"], "start_at": camp["start_at"], "status": camp["status"],
            **_rates(rows), "departments": [{"department": d, **_rates(v)} for d, v in sorted(by_dept.items())]}


def trend(engine: Engine) -> list[dict[str, Any]]:
    """Every campaign, oldest first, with its overall rates."""
    with engine.connect() as c:
        names = [r[0] for r in c.execute(select(A.aw_campaigns.c.name).order_by(A.aw_campaigns.c.start_at))]
    out = []
    for n in names:
        r = campaign_results(engine, n)
        r.pop("departments")
        out.append(r)
    return out


def failed_recently(engine: Engine, emails: list[str], since_us: int) -> dict[str, str]:
    """Of these people, who clicked or submitted in a simulation since then, and in which campaign."""
    if not emails:
        return {}
    with engine.connect() as c:
        rows = c.execute(select(A.aw_targets.c.email, A.aw_campaigns.c.name, A.aw_targets.c.submitted_at).join(
            A.aw_campaigns, A.aw_campaigns.c.id == A.aw_targets.c.campaign_id).where(
            A.aw_targets.c.email.in_([e.lower() for e in emails]), A.aw_targets.c.clicked_at >= since_us)).all()
    return {r[0]: f"{'submitted' if r[2] else 'clicked'} in {r[1]}" for r in rows}


def committee_sentence(engine: Engine, start_us: int, end_us: int) -> str | None:
    """The committee report's plain-English line on staff awareness over a period, or None without a campaign.

    Only clicks by people count (link scanners are not staff)."""
    import time as _time

    from garrison.awareness.training import status

    rows = [r for r in trend(engine) if start_us <= r["start_at"] < end_us and r["delivered"]]
    if not rows:
        return None

    def month(r: dict[str, Any]) -> str:
        return _time.strftime("%B %Y", _time.gmtime(r["start_at"] / US))
    first, last = rows[0], rows[-1]
    if len(rows) == 1:
        text = (f"in the {month(last)} test, {last['clicked']:.0f}% of staff clicked a test phishing email and "
                f"{last['reported']:.0f}% reported it")
    else:
        way = "fell" if last["clicked"] < first["clicked"] else "rose" if last["clicked"] > first["clicked"] else "stayed"
        text = (f"staff who clicked a test phishing email {way} from {first['clicked']:.0f}% in {month(first)} to "
                f"{last['clicked']:.0f}% in {month(last)}; {last['reported']:.0f}% now report it")
    t = status(engine)
    assigned, done = sum(x["assigned"] for x in t), sum(x["completed"] for x in t)
    if assigned:
        text += f". {done:,} of {assigned:,} training modules assigned have been completed"
    return text[0].upper() + text[1:] + "."


def resembles(subject: str, text: str, threshold: float = 0.35) -> str | None:
    """The simulation template a real message looks like (its words overlap the template's), or None: a real phish
    on a theme staff were trained on is worth saying so in its incident."""
    import re

    from garrison.awareness.library import templates

    def words(s: str) -> set[str]:
        return {w for w in re.findall(r"[a-z]{4,}", s.lower()) if w not in ("your", "this", "that", "with", "from", "have")}
    mine = words(subject + " " + text[:2000])
    best, score = None, 0.0
    for tid, t in templates().items():
        theirs = words(t["subject"] + " " + t["text"])
        if mine and theirs:
            j = len(mine & theirs) / len(mine | theirs)
            if j > score:
                best, score = tid, j
    return f"{templates()[best]['title']} ({best})" if best and score >= threshold else None


def latest_by_department(engine: Engine, start_us: int, end_us: int) -> dict[str, Any] | None:
    """The period's latest simulation, department by department, for the committee report (people only)."""
    rows = [r for r in trend(engine) if start_us <= r["start_at"] < end_us and r["delivered"]]
    if not rows:
        return None
    r = campaign_results(engine, rows[-1]["campaign"])
    return {"campaign": r["campaign"], "departments": [
        {"department": d["department"], "tested": d["delivered"], "clicked": d["clicked"], "reported": d["reported"]}
        for d in r["departments"]]}
