"""The awareness programme's scheduled work, run by ``garrison serve`` every minute (``service.scheduler_seconds``):
messages whose send time has come, training for those who fell for a simulation, and assignment and reminder mail."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from sqlalchemy import Engine, select

from garrison.awareness import campaigns, training
from garrison.config import Config
from garrison.store import state_awareness as A

log = logging.getLogger("garrison.awareness")


def send_plain(config: Config, to: str, subject: str, text: str) -> None:
    a = config.awareness
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = f"Security awareness <training@{a.from_domain}>", to, subject
    m.set_content(text)
    s = campaigns.smtp(a)
    try:
        s.send_message(m)
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def tick(engine: Engine, config: Config) -> dict[str, int]:
    out = {"sent": 0, "assigned": 0, "mailed": 0}
    out["assigned"] += training.scheduled(engine, config)
    with engine.connect() as c:
        if c.execute(select(A.aw_campaigns.c.id).limit(1)).first() is None and \
                c.execute(select(A.aw_training.c.id).limit(1)).first() is None:
            return out  # no programme: nothing to do, and no SMTP profile needed
        active = [r[0] for r in c.execute(select(A.aw_campaigns.c.name))]
    out["sent"] = campaigns.send_due(engine, config)
    for name in active:
        out["assigned"] += training.assign_failures(engine, config, name)
    out["mailed"] = training.notify(engine, config, lambda to, subject, text: send_plain(config, to, subject, text))
    if any(out.values()):
        log.info("awareness: %(sent)d simulation messages sent, %(assigned)d trainings assigned, %(mailed)d emails", out)
    return out
