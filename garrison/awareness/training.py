"""Training: short modules with a quiz (``library/modules.yml``), assigned to those who clicked or submitted in a
simulation, or to everyone on a schedule; reminders by email when overdue; completion and scores recorded.

Each assignment has its own unguessable token: the link in the assignment email is the trainee's key.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import Engine, insert, or_, select, update

from garrison.awareness.library import modules
from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.store import state_awareness as A
from garrison.store.records import audit

US = 1_000_000
DAY = 86_400 * US


def assign(engine: Engine, config: Config, people: list[dict[str, str]], module: str, reason: str, actor: str) -> int:
    """Assign ``module`` to each person (email, name, department) who has no open assignment of it; returns how many."""
    if module not in modules():
        raise GarrisonError(f"unknown module {module!r}; one of {', '.join(modules())}")
    now = int(time.time() * US)
    due = now + config.awareness.training_days * DAY
    n = 0
    with engine.begin() as c:
        # not twice at once, and never twice for the same reason (a campaign's failures are assigned once)
        open_ = {r[0] for r in c.execute(select(A.aw_training.c.email).where(
            A.aw_training.c.module == module,
            or_(A.aw_training.c.completed_at.is_(None), A.aw_training.c.reason == reason[:256])))}
        rows = []
        for p in people:
            email = p["email"].lower()
            if email in open_:
                continue
            open_.add(email)
            rows.append({"email": email, "name": p.get("name") or email, "department": p.get("department") or "unknown",
                         "module": module, "token": secrets.token_urlsafe(16), "reason": reason[:256],
                         "assigned_at": now, "due_at": due, "reminders": 0})
        if rows:
            c.execute(insert(A.aw_training), rows)
            audit(c, actor, "training.assign", f"module:{module}", {"people": len(rows), "reason": reason})
        n = len(rows)
    return n


def assign_failures(engine: Engine, config: Config, campaign: str, actor: str = "policy") -> int:
    """Those who clicked (a person's click) or submitted in a campaign get the phishing module."""
    with engine.connect() as c:
        rows = c.execute(select(A.aw_targets.c.email, A.aw_targets.c.name, A.aw_targets.c.department).join(
            A.aw_campaigns, A.aw_campaigns.c.id == A.aw_targets.c.campaign_id).where(
            A.aw_campaigns.c.name == campaign,
            or_(A.aw_targets.c.clicked_at.is_not(None), A.aw_targets.c.submitted_at.is_not(None)))).mappings().all()
    return assign(engine, config, [dict(r) for r in rows], "phishing", f"clicked or submitted in campaign {campaign}", actor)


def assignment(engine: Engine, token: str) -> dict[str, Any] | None:
    with engine.connect() as c:
        row = c.execute(select(A.aw_training).where(A.aw_training.c.token == token)).mappings().first()
    return dict(row) if row else None


def complete(engine: Engine, config: Config, token: str, answers: dict[int, int]) -> dict[str, Any]:
    """Mark a quiz: the score in percent; at or above the pass mark the module is complete."""
    a = assignment(engine, token)
    if a is None:
        raise GarrisonError("no such training link")
    qs = modules()[a["module"]]["questions"]
    right = sum(1 for i, q in enumerate(qs) if answers.get(i) == q["answer"])
    score = round(100 * right / len(qs))
    passed = score >= config.awareness.pass_mark
    with engine.begin() as c:
        values: dict[str, Any] = {"score": max(score, a["score"] or 0)}
        if passed and a["completed_at"] is None:
            values["completed_at"] = int(time.time() * US)
        c.execute(update(A.aw_training).where(A.aw_training.c.id == a["id"]).values(**values))
    return {"score": score, "passed": passed, "right": right, "questions": len(qs)}


def due_reminders(engine: Engine, config: Config, now_us: int | None = None) -> list[dict[str, Any]]:
    """Assignments past due and not reminded within ``awareness.reminder_days``."""
    now = now_us or int(time.time() * US)
    gap = config.awareness.reminder_days * DAY
    with engine.connect() as c:
        rows = c.execute(select(A.aw_training).where(
            A.aw_training.c.completed_at.is_(None), A.aw_training.c.due_at <= now,
            or_(A.aw_training.c.last_reminder_at.is_(None), A.aw_training.c.last_reminder_at <= now - gap))).mappings().all()
    return [dict(r) for r in rows]


def notify(engine: Engine, config: Config, send: Any, now_us: int | None = None) -> int:
    """Email new assignments and overdue reminders (``send(to, subject, text)``); returns how many went."""
    now = now_us or int(time.time() * US)
    base = config.awareness.base_url.rstrip("/")
    with engine.connect() as c:
        new = [dict(r) for r in c.execute(select(A.aw_training).where(A.aw_training.c.reminders == 0,
                                                                       A.aw_training.c.completed_at.is_(None))).mappings()]
    todo = [(a, False) for a in new] + [(a, True) for a in due_reminders(engine, config, now) if a["reminders"] > 0]
    sent = 0
    for a, overdue in todo:
        m = modules()[a["module"]]
        subject = ("Reminder: " if overdue else "") + f"{m['title']} ({m['minutes']} minutes)"
        text = (f"Dear {a['name']},\n\n{'This training is now overdue. ' if overdue else ''}Please complete the short "
                f"module \"{m['title']}\" ({m['minutes']} minutes):\n\n{base}/training/{a['token']}\n\nThank you.\n")
        send(a["email"], subject, text)
        with engine.begin() as c:
            c.execute(update(A.aw_training).where(A.aw_training.c.id == a["id"]).values(
                reminders=a["reminders"] + 1, last_reminder_at=now))
        sent += 1
    return sent


def status(engine: Engine) -> list[dict[str, Any]]:
    """Per module and department: assigned, completed, overdue, average score."""
    now = int(time.time() * US)
    with engine.connect() as c:
        rows = c.execute(select(A.aw_training)).mappings().all()
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        k = (r["module"], r["department"])
        s = out.setdefault(k, {"module": k[0], "department": k[1], "assigned": 0, "completed": 0, "overdue": 0, "scores": []})
        s["assigned"] += 1
        if r["completed_at"]:
            s["completed"] += 1
            s["scores"].append(r["score"] or 0)
        elif r["due_at"] <= now:
            s["overdue"] += 1
    for s in out.values():
        scores = s.pop("scores")
        s["average_score"] = round(sum(scores) / len(scores)) if scores else None
    return sorted(out.values(), key=lambda s: (s["module"], s["department"]))


def scheduled(engine: Engine, config: Config, now_us: int | None = None) -> int:
    """``awareness.schedule``: each module is assigned to everyone in ``awareness.staff`` every ``every_days``."""
    a = config.awareness
    if not a.schedule:
        return 0
    if not a.staff:
        raise GarrisonError("awareness.schedule needs awareness.staff, a CSV of everyone (email, name, department)")
    from garrison.awareness.campaigns import targets_from_csv

    now = now_us or int(time.time() * US)
    n = 0
    for item in a.schedule:
        module, every = str(item.get("module")), float(item.get("every_days", 365))
        with engine.connect() as c:
            last = c.execute(select(A.aw_training.c.assigned_at).where(
                A.aw_training.c.module == module, A.aw_training.c.reason.like("scheduled for everyone%"))
                .order_by(A.aw_training.c.assigned_at.desc()).limit(1)).scalar()
        if last is not None and now - last < every * DAY:
            continue
        people = [{"email": t.email, "name": t.name, "department": t.department} for t in targets_from_csv(a.staff)]
        n += assign(engine, config, people, module, f"scheduled for everyone every {every:g} days ({time.strftime('%Y-%m-%d', time.gmtime(now / US))})",
                    "schedule")
    return n
