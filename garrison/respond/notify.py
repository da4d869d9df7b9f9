"""Notifications: email over SMTP and Microsoft Teams / Slack webhooks, rate-limited, with a daily digest.

A notice beyond ``max_per_hour`` is not lost: it waits in the digest, which ``flush_digest`` sends
(serve calls it daily when ``digest: daily``, and hourly otherwise to release held notices).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage

import httpx

from garrison.config import NotifyConfig
from garrison.model.detection import LEVELS

log = logging.getLogger("garrison.notify")


@dataclass
class Notice:
    level: str
    title: str
    text: str
    at: float = field(default_factory=time.time)


def teams_payload(n: Notice) -> dict[str, object]:
    """An Office 365 connector MessageCard, which Teams incoming webhooks accept."""
    colour = {"critical": "B00020", "high": "D9480F", "medium": "F59F00"}.get(n.level, "1971C2")
    return {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": n.title,
            "themeColor": colour, "title": f"[{n.level.upper()}] {n.title}", "text": n.text}


def slack_payload(n: Notice) -> dict[str, object]:
    return {"text": f"*[{n.level.upper()}] {n.title}*\n{n.text}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*[{n.level.upper()}] {n.title}*"}},
                       {"type": "section", "text": {"type": "mrkdwn", "text": n.text}}]}


class Notifier:
    def __init__(self, cfg: NotifyConfig):
        self.cfg = cfg
        self.sent: deque[float] = deque()
        self.digest: list[Notice] = []
        self.failures = 0
        self._lock = threading.Lock()

    def __call__(self, level: str, title: str, text: str) -> None:
        self.notify(Notice(level, title, text))

    def notify_text(self, level: str, title: str, text: str) -> bool:
        return self.notify(Notice(level, title, text))

    def notify(self, n: Notice) -> bool:
        """Send now if allowed, else hold for the digest. Returns True when sent."""
        if LEVELS.index(n.level) < LEVELS.index(self.cfg.min_level):
            return False
        with self._lock:
            now = time.time()
            while self.sent and now - self.sent[0] > 3600:
                self.sent.popleft()
            if self.cfg.digest == "daily" or len(self.sent) >= self.cfg.max_per_hour:
                self.digest.append(n)
                return False
            self.sent.append(now)
        self._deliver(n.title, n.text, [n])
        return True

    def flush_digest(self) -> int:
        with self._lock:
            held, self.digest = self.digest, []
        if held:
            text = "\n".join(f"- [{n.level}] {time.strftime('%Y-%m-%d %H:%M', time.gmtime(n.at))} {n.title}: {n.text}"
                             for n in held)
            self._deliver(f"Garrison digest: {len(held)} notice(s)", text, held)
        return len(held)

    def _deliver(self, title: str, text: str, notices: list[Notice]) -> None:
        top = max(notices, key=lambda n: LEVELS.index(n.level))
        if self.cfg.smtp_host and self.cfg.mail_to:
            try:
                self._mail(title, text)
            except (OSError, smtplib.SMTPException) as e:
                self.failures += 1
                log.warning("email to %s via %s failed: %s", self.cfg.mail_to, self.cfg.smtp_host, e)
        for url in self.cfg.teams_webhooks:
            self._post(url, teams_payload(Notice(top.level, title, text)))
        for url in self.cfg.slack_webhooks:
            self._post(url, slack_payload(Notice(top.level, title, text)))

    def _mail(self, title: str, text: str) -> None:
        send_mail(self.cfg, self.cfg.mail_to, title, text)

    def _post(self, url: str, payload: dict[str, object]) -> None:
        try:
            r = httpx.post(url, json=payload, timeout=10)
            if r.status_code >= 300:
                raise httpx.HTTPError(f"HTTP {r.status_code}")
        except httpx.HTTPError as e:
            self.failures += 1
            log.warning("webhook %s failed: %s", url.split("?")[0], e)  # the query may hold a secret


def send_mail(cfg: NotifyConfig, to: list[str], subject: str, text: str,
              attachments: list[tuple[str, bytes, str]] | None = None) -> None:
    """One message through the configured SMTP server; attachments are (file name, content, MIME type)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg.mail_from
    msg["To"] = ", ".join(to)
    msg.set_content(text)
    for name, data, mime in attachments or []:
        main, _, sub = mime.partition("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    with smtplib.SMTP(cfg.smtp_host or "localhost", cfg.smtp_port, timeout=10) as s:
        if cfg.smtp_starttls:
            s.starttls(context=ssl.create_default_context())
        if cfg.smtp_user:
            s.login(cfg.smtp_user, cfg.smtp_password or "")
        s.send_message(msg)
