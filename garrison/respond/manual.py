"""Bans made by people (CLI and HTTP API): validated, protected targets refused, escalated, audited."""

from __future__ import annotations

from sqlalchemy import Engine

from garrison.config import Config
from garrison.model.inventory import load_inventory
from garrison.errors import GarrisonError
from garrison.model.decision import TYPES, Decision, parse_duration
from garrison.respond.decisions import add_decision, normalise_target
from garrison.respond.safety import protected_reason
from garrison.store.records import now_us


# Mail providers whose whole domain must never be blocked: block the one address instead.
SHARED_MAIL = frozenset(("gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com",
                         "aol.com", "gmx.com", "gmx.de", "proton.me", "protonmail.com", "mail.ru", "yandex.ru", "qq.com", "163.com",
                         "onmicrosoft.com", "sharepoint.com", "google.com", "microsoft.com", "amazonaws.com", "windows.net"))


def mail_protected(config: Config, scope: str, value: str) -> str | None:
    """Why a mail address or domain must not be blocked: ours, a partner's, or a whole shared provider."""
    if scope not in ("email", "domain"):
        return None
    domain = value.rpartition("@")[2]
    for own, what in [(d, "the organisation's own mail domain") for d in config.enrich.own_domains] + \
                     [(d, "a partner's mail domain") for d in config.detect.mail.partner_domains]:
        own = own.lower()
        if domain == own or domain.endswith("." + own):
            return f"{what} ({own})"
    if scope == "domain" and any(domain == d or domain.endswith("." + d) for d in SHARED_MAIL):
        return "a shared provider's domain (block the one address instead)"
    return None


def manual_ban(config: Config, engine: Engine, value: str, scope: str = "ip", type_: str = "ban",
               duration: str = "4h", reason: str = "manual ban", actor: str = "analyst") -> Decision:
    if type_ not in TYPES:
        raise GarrisonError(f"unknown decision type {type_!r}; use one of {', '.join(TYPES)}")
    value = normalise_target(scope, value)
    why = protected_reason(scope, value, load_inventory(config.enrich.inventory)) or mail_protected(config, scope, value)
    if why:
        raise GarrisonError(f"refusing to {type_} {value}: it is {why} (see enrich.inventory)")
    try:
        dur = parse_duration(duration)
    except ValueError as e:
        raise GarrisonError(str(e)) from None
    now = now_us()
    d = Decision(type=type_, scope=scope, value=value, origin="analyst", reason=reason, created_at=now,
                 until=now + dur, simulated=config.respond.dry_run, organization_id=config.organization, author=actor)
    return add_decision(engine, d, actor)
