"""The monthly report: on ``report.monthly_day``, ``garrison serve`` emails last month's PDF to
``report.mail_to`` (through the SMTP server of ``notify``) and keeps it in the archive. Each month is
sent once: the archive remembers it, so a restart doesn't send it again."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import Engine, select

from garrison.config import Config
from garrison.report.period import Period, parse_period
from garrison.report.render import archive, generate
from garrison.respond.notify import send_mail
from garrison.store import state as S

log = logging.getLogger("garrison.report")


def due(engine: Engine, cfg: Config, today: date) -> Period | None:
    """Last month's period when its scheduled report is due and not yet sent, else None."""
    if not cfg.report.mail_to or today.day < cfg.report.monthly_day:
        return None
    last = parse_period(f"{(today.replace(day=1) - timedelta(days=1)):%Y-%m}")
    with engine.connect() as c:
        sent = c.execute(select(S.reports.c.id).where(S.reports.c.author == "schedule",
                                                      S.reports.c.period_start == last.start.isoformat(),
                                                      S.reports.c.period_end == last.end.isoformat())).first()
    return None if sent else last


def send_monthly(engine: Engine, cfg: Config, today: date | None = None) -> int | None:
    """Send the due monthly report; returns its archive id, or None when nothing was due."""
    period = due(engine, cfg, today or date.today())
    if period is None:
        return None
    pdf = generate(engine, period, cfg.report.organization_name, "pdf", cfg.report.logo)
    name = f"cyber-security-report-{period.start:%Y-%m}.pdf"
    send_mail(cfg.notify, cfg.report.mail_to, f"{cfg.report.organization_name}: cyber-security report, {period.label}",
              f"The cyber-security report for {period.label} is attached.\n\nGarrison", [(name, pdf.content, "application/pdf")])
    rid = archive(engine, cfg.data_path, period, pdf, "schedule")
    log.info("monthly report for %s sent to %d recipient(s), archived as #%d", period.label, len(cfg.report.mail_to), rid)
    return rid
