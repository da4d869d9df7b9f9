"""Acting on a phishing message: block its sender and link hosts, purge it from mailboxes, answer who reported it.

- **Block**: decisions of scope ``email`` (the sender) and ``domain`` (the sender's own domain, the link hosts),
  served by the decisions API to mail gateways and DNS or proxy filters that ask for those scopes, and written
  as indicators (``data/intel/reported-phish.csv``, loaded by the intel stage). Own and partner domains and
  shared providers are never blocked (``manual.mail_protected``).
- **Purge**: Graph's message search by Internet message id, then delete, per mailbox (``identity.purge_message``),
  recorded like every identity action.
- **Answer**: a templated email (``respond/templates/answer_<verdict>.txt``) to each reporter over SMTP.
"""

from __future__ import annotations

from importlib import resources
from string import Template
from typing import Any

from sqlalchemy import Engine

from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.respond.identity import perform
from garrison.respond.manual import manual_ban
from garrison.respond.notify import send_mail
from garrison.store import indicators

def block(config: Config, engine: Engine, sender: str, hosts: list[str], reason: str, actor: str,
          duration: str = "30d") -> list[dict[str, Any]]:
    """Decisions for the sender, its domain and the link hosts; each refusal is reported, not raised."""
    targets = [("email", sender)] if sender else []
    if "@" in sender:
        targets.append(("domain", sender.rpartition("@")[2]))
    targets += [("domain", h) for h in hosts]
    out = []
    for scope, value in targets:
        try:
            d = manual_ban(config, engine, value, scope, "ban", duration, reason, actor)
            out.append({"scope": scope, "value": d.value, "decision": d.id, "until": d.until})
        except GarrisonError as e:
            out.append({"scope": scope, "value": value, "refused": str(e)})
    _remember(config, [(x["scope"], x["value"]) for x in out if "decision" in x], reason, duration)
    return out


def _remember(config: Config, targets: list[tuple[str, str]], source: str, duration: str) -> None:
    """The blocked domains join the reported-phish indicator list (a sender's address is matched by its domain)."""
    from garrison.model.decision import parse_duration

    indicators.append(config.data_dir, [("domain", v) for scope, v in targets if scope == "domain"], source,
                      parse_duration(duration) / 86_400e6)


def purge(config: Config, engine: Engine, mailboxes: list[str], internet_message_id: str, actor: str,
          incident_id: int | None) -> list[dict[str, Any]]:
    out = []
    for box in mailboxes:
        try:
            row = perform(engine, config, "purge_message", box, actor, "reported phishing purged", incident_id,
                          {"internet_message_id": internet_message_id})
            out.append({"mailbox": box, "status": row["status"], "deleted": _deleted(row)})
        except GarrisonError as e:
            out.append({"mailbox": box, "status": "failed", "error": str(e)})
    return out


def _deleted(row: dict[str, Any]) -> int:
    import orjson

    return int(orjson.loads(row.get("detail") or "{}").get("deleted", 0))


def answer_text(verdict: str, subject: str, sender: str, reasons: list[str], done: str) -> str:
    name = verdict if verdict in ("phishing", "spam", "legitimate", "simulation") else "legitimate"
    text = resources.files("garrison.respond").joinpath("templates", f"answer_{name}.txt").read_text(encoding="utf-8")
    why = (": " + reasons[0]) if reasons else ""
    return Template(text).safe_substitute(subject=subject[:200], sender=sender[:200], why=why, done=done or "")


def answer(config: Config, reporters: list[str], verdict: str, subject: str, sender: str, reasons: list[str],
           done: str) -> list[dict[str, Any]]:
    """The reporters' answer email, one message each; a refused send is reported per reporter."""
    n = config.notify
    if not n.smtp_host:
        raise GarrisonError("no SMTP server to answer through: set notify.smtp_host (and notify.mail_from)")
    text = answer_text(verdict, subject, sender, reasons, done)
    title = {"phishing": "Thank you: the message you reported was phishing",
             "spam": "Thank you: the message you reported was spam",
             "simulation": "Well spotted: that was a training test"}.get(verdict, "Thank you: the message you reported is safe")
    out = []
    for to in reporters:
        try:
            send_mail(n, [to], title, text)
            out.append({"to": to, "sent": True})
        except OSError as e:
            out.append({"to": to, "sent": False, "error": str(e)})
    return out
