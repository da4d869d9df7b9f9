"""State of the awareness programme (``garrison/awareness``): phishing simulations, their targets and what each
did, and training assignments. What a person typed on a landing page is never stored: no column can hold it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, insert, select, update

from garrison.store._meta import metadata

aw_campaigns = Table(
    "aw_campaigns", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("template", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # scheduled sending done
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("start_at", BigInteger, nullable=False),  # the send window opens (epoch us)
    Column("window_hours", Integer, nullable=False),  # messages spread over this many working hours
    Column("settings", Text, nullable=False),  # JSON: sending profile (no secrets: a password file's path), base URL, hours
)

aw_targets = Table(
    "aw_targets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, nullable=False, index=True),
    Column("email", String(320), nullable=False, index=True),
    Column("name", String(256), nullable=False),
    Column("department", String(128), nullable=False),
    Column("token", String(64), nullable=False, unique=True),  # 128 random bits; the only key a recipient holds
    Column("send_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    Column("delivered_at", BigInteger),  # the SMTP server accepted it
    Column("send_error", String(512)),
    Column("opened_at", BigInteger),
    Column("clicked_at", BigInteger),  # the first click a person made (scanner clicks are not clicks)
    Column("any_click_at", BigInteger),  # the first click of anything, scanners included
    Column("submitted_at", BigInteger),
    Column("reported_at", BigInteger),
    Column("scanner_hits", Integer, nullable=False, default=0),
)

aw_events = Table(
    "aw_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target_id", Integer, nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # open click submit beacon report
    Column("at", BigInteger, nullable=False),
    Column("ip", String(64)),
    Column("user_agent", String(256)),
    Column("method", String(8)),
    Column("link", String(32)),  # which of the message's links
    Column("label", String(16)),  # human scanner unknown
    Column("reasons", Text),  # JSON list
)

aw_training = Table(
    "aw_training", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, index=True),
    Column("name", String(256), nullable=False),
    Column("department", String(128), nullable=False),
    Column("module", String(64), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("reason", String(256), nullable=False),  # "clicked campaign X", "scheduled for everyone"
    Column("assigned_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("completed_at", BigInteger),
    Column("score", Integer),  # percent of quiz answers right
    Column("reminders", Integer, nullable=False, default=0),
    Column("last_reminder_at", BigInteger),
)


def known_token(conn: Any, token: str) -> bool:
    """A simulation's recipient token that Garrison issued (what makes a reported message a simulation)."""
    return conn.execute(select(aw_targets.c.id).where(aw_targets.c.token == token)).first() is not None


def mark_reported(conn: Any, token: str, at: int) -> bool:
    """Inside a commit: a recipient reported the simulation (the good outcome); True when the token is one of ours."""
    row = conn.execute(select(aw_targets.c.id, aw_targets.c.reported_at).where(aw_targets.c.token == token)).first()
    if row is None:
        return False
    if row[1] is None:
        conn.execute(update(aw_targets).where(aw_targets.c.id == row[0]).values(reported_at=at))
        conn.execute(insert(aw_events).values(target_id=row[0], kind="report", at=at, label="human", reasons="[]"))
    return True


def mark_reported_by(conn: Any, email: str, at: int) -> bool:
    """Inside a commit: a report known only by who made it (Microsoft 365's Report button, through the audit log):
    the person's latest simulation message that is still live is marked reported."""
    row = conn.execute(select(aw_targets.c.token).where(
        aw_targets.c.email == email.lower(), aw_targets.c.sent_at.is_not(None), aw_targets.c.sent_at <= at,
        aw_targets.c.expires_at >= at).order_by(aw_targets.c.sent_at.desc()).limit(1)).first()
    return mark_reported(conn, row[0], at) if row else False
