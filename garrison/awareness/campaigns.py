"""Phishing simulations: targets (CSV or an Entra ID group), a template, a send window in working hours, sending.

Each recipient gets a token of 128 random bits, the only key to their link, pixel and landing page, which
expires after ``awareness.token_days``. Messages are spread over the window in a random order (so that one
department does not warn the next), only Monday to Friday within ``awareness.working_hours``. Sending is
SMTP through the configured profile; "delivered" means the server accepted the message.
"""

from __future__ import annotations

import csv
import html
import random
import secrets
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine, insert, select, update

from garrison.awareness.library import render, templates
from garrison.config import AwarenessConfig, Config, read_secret_from
from garrison.errors import GarrisonError, InputError, Location
from garrison.store import state_awareness as A
from garrison.store.records import audit

US = 1_000_000


@dataclass(frozen=True)
class Target:
    email: str
    name: str
    department: str


def targets_from_csv(path: str | Path) -> list[Target]:
    """A CSV with ``email`` and optionally ``name`` and ``department`` columns; a bad row is an error naming it."""
    out, seen = [], set()
    with open(path, newline="", encoding="utf-8-sig") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            email = (row.get("email") or "").strip().lower()
            if email.count("@") != 1 or "." not in email.rpartition("@")[2]:
                raise InputError(f"not an email address: {email[:80]!r}", Location(str(path), i))
            if email in seen:
                continue
            seen.add(email)
            out.append(Target(email, (row.get("name") or email.split("@")[0]).strip(), (row.get("department") or "unknown").strip()))
    if not out:
        raise GarrisonError(f"{path}: no targets (the CSV needs an 'email' column)")
    return out


def targets_from_group(config: Config, group_id: str) -> list[Target]:
    """An Entra ID group's members with their departments, through the Microsoft connector (Graph)."""
    import asyncio

    from garrison.clients.microsoft import Api

    m = config.microsoft
    if not (m.tenant_id and m.client_id):
        raise GarrisonError("targets from an Entra ID group need the Microsoft connector (microsoft.tenant_id, client_id)")

    async def fetch() -> list[dict[str, Any]]:
        api = Api(m)
        graph = m.graph_url.rstrip("/")
        url: str | None = f"{graph}/v1.0/groups/{quote(group_id, safe='')}/members"
        params: dict[str, Any] | None = {"$select": "displayName,mail,userPrincipalName,department", "$top": "999"}
        out: list[dict[str, Any]] = []
        try:
            for _ in range(200):  # 200 pages of 999: far beyond any council
                if url is None:
                    break
                doc, _resp = await api.json(url, graph, params)
                out += [x for x in doc.get("value", []) if isinstance(x, dict)]
                url, params = doc.get("@odata.nextLink"), None
            return out
        finally:
            await api.close()
    members = asyncio.run(fetch())
    return [Target(str(u.get("mail") or u.get("userPrincipalName")).lower(), str(u.get("displayName") or ""),
                   str(u.get("department") or "unknown")) for u in members if u.get("mail") or u.get("userPrincipalName")]


def slots(start_us: int, window_hours: int, n: int, cfg: AwarenessConfig) -> list[int]:
    """``n`` send times spread over ``window_hours`` of working time from ``start_us`` (Monday to Friday)."""
    tz = ZoneInfo(cfg.timezone)
    opens, closes = (datetime.strptime(x.strip(), "%H:%M").time() for x in cfg.working_hours.split("-"))
    t = datetime.fromtimestamp(start_us / US, tz).replace(second=0, microsecond=0)
    minutes: list[int] = []
    for _ in range(60 * 24 * 366):
        if len(minutes) >= max(1, window_hours * 60):
            break
        if t.weekday() < 5 and opens <= t.time() < closes:
            minutes.append(int(t.timestamp() * US))
        t += timedelta(minutes=1)
    if not minutes:
        raise GarrisonError(f"awareness.working_hours {cfg.working_hours!r} leaves no time to send in")
    return [minutes[i * len(minutes) // n] for i in range(n)]


def create(engine: Engine, config: Config, name: str, template: str, targets: list[Target], actor: str,
           start_us: int | None = None, window_hours: int = 4) -> int:
    if template not in templates():
        raise GarrisonError(f"unknown template {template!r}; one of {', '.join(templates())}")
    now = int(time.time() * US)
    start = start_us or now
    order = list(targets)
    random.SystemRandom().shuffle(order)
    times = slots(start, window_hours, len(order), config.awareness)
    expires = config.awareness.token_days * 86400 * US
    with engine.begin() as c:
        if c.execute(select(A.aw_campaigns.c.id).where(A.aw_campaigns.c.name == name)).first():
            raise GarrisonError(f"a campaign named {name!r} exists already")
        cid = c.execute(insert(A.aw_campaigns).values(
            name=name, template=template, status="scheduled", created_at=now, created_by=actor, start_at=start,
            window_hours=window_hours, settings=orjson.dumps({"base_url": config.awareness.base_url}).decode())
        ).inserted_primary_key[0]
        c.execute(insert(A.aw_targets), [
            {"campaign_id": cid, "email": t.email, "name": t.name, "department": t.department,
             "token": secrets.token_urlsafe(16), "send_at": at, "expires_at": at + expires, "scanner_hits": 0}
            for t, at in zip(order, times)])
        audit(c, actor, "campaign.create", f"campaign:{name}", {"template": template, "targets": len(order)})
    return int(cid)


def campaign_id(engine: Engine, name: str) -> int:
    with engine.connect() as c:
        row = c.execute(select(A.aw_campaigns.c.id).where(A.aw_campaigns.c.name == name)).first()
    if row is None:
        raise GarrisonError(f"no campaign {name!r} (see: garrison campaigns list)")
    return int(row[0])


def message(config: Config, template: str, target: dict[str, Any], campaign: str) -> EmailMessage:
    """One recipient's simulated phish: the template filled, a tracked link and pixel, the campaign's headers."""
    a = config.awareness
    t = templates()[template]
    base = a.base_url.rstrip("/")
    link = f"{base}/t/c/{target['token']}?l=1"
    values = {"name": target["name"], "first_name": target["name"].split()[0] if target["name"] else "",
              "department": target["department"], "org": a.organisation}
    text = render(t["text"], {**values, "link": link})
    m = EmailMessage()
    m["From"] = f'"{render(t["sender_name"], values)}" <{t["sender_local"]}@{a.from_domain}>'
    m["To"] = target["email"]
    m["Subject"] = render(t["subject"], values)
    m["Date"] = format_datetime(datetime.now().astimezone())
    m["Message-ID"] = make_msgid(domain=a.from_domain)
    m["X-Garrison-Campaign"] = campaign  # lets the reporting mailbox recognise a report of a simulation
    m["X-Garrison-Token"] = target["token"]
    m.set_content(text)
    body = html.escape(render(t["text"], values)).replace("$link", f'<a href="{html.escape(link)}">{html.escape(link)}</a>')
    m.add_alternative(f"<html><body><div>{body.replace(chr(10), '<br>')}</div>"
                      f'<img src="{html.escape(base)}/t/o/{target["token"]}.gif" width="1" height="1" alt=""></body></html>',
                      subtype="html")
    return m


def smtp(a: AwarenessConfig) -> smtplib.SMTP:
    """A connection through the sending profile (TLS, STARTTLS or plain on a trusted relay; login when a user is set)."""
    return _smtp(a)


def _smtp(a: AwarenessConfig) -> smtplib.SMTP:
    if not a.smtp_host:
        raise GarrisonError("no sending profile: set awareness.smtp_host (and smtp_port, smtp_security, smtp_username)")
    ctx = ssl.create_default_context()
    s = smtplib.SMTP_SSL(a.smtp_host, a.smtp_port, context=ctx, timeout=30) if a.smtp_security == "tls" \
        else smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=30)
    if a.smtp_security == "starttls":
        s.starttls(context=ctx)
    if a.smtp_username:
        s.login(a.smtp_username, read_secret_from(a.smtp_password_file, a.smtp_password_env, "awareness.smtp_password") or "")
    return s


def send_due(engine: Engine, config: Config, now_us: int | None = None, name: str | None = None, everything: bool = False) -> int:
    """Send every message whose time has come (all of a campaign's with ``everything``); returns how many went."""
    now = now_us or int(time.time() * US)
    q = select(A.aw_targets, A.aw_campaigns.c.name.label("campaign"), A.aw_campaigns.c.template).join(
        A.aw_campaigns, A.aw_campaigns.c.id == A.aw_targets.c.campaign_id).where(A.aw_targets.c.sent_at.is_(None))
    if name:
        q = q.where(A.aw_campaigns.c.name == name)
    if not everything:
        q = q.where(A.aw_targets.c.send_at <= now)
    with engine.connect() as c:
        due = [dict(r) for r in c.execute(q.order_by(A.aw_targets.c.send_at)).mappings()]
    if not due:
        return 0
    sent = 0
    smtp = _smtp(config.awareness)
    try:
        for t in due:
            m = message(config, t["template"], t, t["campaign"])
            values: dict[str, Any] = {"sent_at": int(time.time() * US)}
            try:
                refused = smtp.send_message(m)
                if not refused:
                    values["delivered_at"] = values["sent_at"]
                else:
                    values["send_error"] = str(refused)[:500]
            except smtplib.SMTPException as e:
                values["send_error"] = str(e)[:500]
            with engine.begin() as c:
                c.execute(update(A.aw_targets).where(A.aw_targets.c.id == t["id"]).values(**values))
            sent += 1
    finally:
        try:
            smtp.quit()
        except smtplib.SMTPException:
            pass
    with engine.begin() as c:
        for cname in {t["campaign"] for t in due}:
            left = c.execute(select(A.aw_targets.c.id).join(A.aw_campaigns, A.aw_campaigns.c.id == A.aw_targets.c.campaign_id)
                             .where(A.aw_campaigns.c.name == cname, A.aw_targets.c.sent_at.is_(None)).limit(1)).first()
            c.execute(update(A.aw_campaigns).where(A.aw_campaigns.c.name == cname).values(status="sending" if left else "done"))
    return sent


def list_campaigns(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = [dict(r) for r in c.execute(select(A.aw_campaigns).order_by(A.aw_campaigns.c.start_at)).mappings()]
        for r in rows:
            ts = c.execute(select(A.aw_targets.c.sent_at).where(A.aw_targets.c.campaign_id == r["id"])).all()
            r["targets"], r["sent"] = len(ts), sum(1 for x in ts if x[0] is not None)
            r.pop("settings", None)
    return rows
