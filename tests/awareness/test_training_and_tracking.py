"""Training assignment, its emails and reminders, the schedule to everyone; token expiry, the open pixel and the
risk a submission leaves on the person."""

from __future__ import annotations

import time

from sqlalchemy import select, update

from garrison.awareness import campaigns, training
from garrison.awareness.tracking import Visit, record
from garrison.config import load_config
from garrison.store import open_state
from garrison.store import state as S
from garrison.store import state_awareness as A

DAY = 86_400_000_000
EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Edg/131.0"


def _setup(tmp_path, **aw):
    staff = tmp_path / "staff.csv"
    staff.write_text("email,name,department\nkim@council.example,Kim Ward,Finance\njo@council.example,Jo Bloggs,Planning\n")
    cfg = load_config(None, data_dir=str(tmp_path / "d"), awareness={"staff": str(staff), **aw})
    return cfg, open_state(cfg.data_path), staff


def test_assignments_are_emailed_and_reminded_when_overdue(tmp_path):
    cfg, engine, _ = _setup(tmp_path, training_days=14, reminder_days=3)
    assert training.assign(engine, cfg, [{"email": "kim@council.example", "name": "Kim"}], "reporting", "test", "t") == 1
    assert training.assign(engine, cfg, [{"email": "kim@council.example", "name": "Kim"}], "reporting", "test", "t") == 0
    mail: list[tuple[str, str, str]] = []
    send = lambda to, subject, text: mail.append((to, subject, text))  # noqa: E731
    now = int(time.time() * 1e6)
    assert training.notify(engine, cfg, send, now) == 1 and "/training/" in mail[0][2]
    assert training.notify(engine, cfg, send, now + DAY) == 0  # not due yet
    assert training.notify(engine, cfg, send, now + 15 * DAY) == 1 and mail[1][1].startswith("Reminder:")
    assert training.notify(engine, cfg, send, now + 16 * DAY) == 0  # reminders every 3 days, not daily
    assert training.notify(engine, cfg, send, now + 19 * DAY) == 1
    token = mail[0][2].split("/training/")[1].split()[0]
    assert training.complete(engine, cfg, token, {0: 1, 1: 1})["passed"]
    assert training.notify(engine, cfg, send, now + 30 * DAY) == 0  # done: no more reminders


def test_schedule_assigns_everyone_once_per_period(tmp_path):
    cfg, engine, _ = _setup(tmp_path, schedule=[{"module": "passwords_mfa", "every_days": 365}])
    now = int(time.time() * 1e6)
    assert training.scheduled(engine, cfg, now) == 2
    assert training.scheduled(engine, cfg, now + 30 * DAY) == 0
    with engine.begin() as c:  # both complete it; a year later it comes round again
        c.execute(update(A.aw_training).values(completed_at=now, score=100))
    assert training.scheduled(engine, cfg, now + 366 * DAY) == 2


def test_tokens_expire_opens_are_counted_and_a_submission_leaves_risk(tmp_path):
    cfg, engine, staff = _setup(tmp_path, submit_risk=25, token_days=14)
    campaigns.create(engine, cfg, "c1", "payroll", campaigns.targets_from_csv(staff), "test")
    now = int(time.time() * 1e6)
    with engine.begin() as c:
        c.execute(update(A.aw_targets).values(sent_at=now - 3600_000_000, delivered_at=now - 3600_000_000))
        kim, jo = (r[0] for r in c.execute(select(A.aw_targets.c.token).order_by(A.aw_targets.c.email.desc())))
    assert record(engine, kim, "open", Visit("GET", "10.0.0.4", EDGE))[1] == "unknown"
    assert record(engine, kim, "beacon", Visit("GET", "10.0.0.4", EDGE))[1] == "human"
    record(engine, kim, "submit_js", Visit("POST", "10.0.0.4", EDGE), risk_points=25)
    with engine.connect() as c:
        t = c.execute(select(A.aw_targets).where(A.aw_targets.c.token == kim)).mappings().first()
        risk = c.execute(select(S.entity_risk.c.score).where(S.entity_risk.c.kind == "user", S.entity_risk.c.value == "kim")).scalar()
    assert t["opened_at"] and t["clicked_at"] and t["submitted_at"] and risk == 25
    from garrison.awareness.results import failed_recently

    # a real phishing incident's recipients: who fell for a recent simulation
    assert failed_recently(engine, ["KIM@council.example", "jo@council.example"], now - DAY) == {"kim@council.example": "submitted in c1"}
    later = Visit("GET", "10.0.0.5", EDGE, at=now + 20 * DAY)  # token_days after its send time (at most a weekend away)
    assert record(engine, jo, "click", later)[0] is None  # expired: the link no longer works
    assert record(engine, "not-a-token", "click", Visit("GET", "10.0.0.5", EDGE))[0] is None
