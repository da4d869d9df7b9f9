"""Authentication failures in the logs of common services (mail, FTP, databases, embedded SSH, ...).

The patterns are data: ``garrison/model/patterns/services.yml``. Each says what a service writes when someone fails to log in, and where the client's
address and the account are. The generic patterns at the end catch the many applications that
log "authentication failed ... <address>" in their own words; they demand both a failure phrase
and an address.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2

from garrison.model import Event
from garrison.model.patterns import IP, PatternError, compile_re2, expand, family, options
from garrison.parse.util import clean_ip

_P = family("services")


def _compile(pattern: str) -> Any:
    """RE2 (linear time) when it can; Python's engine only for the few that need a lookahead."""
    try:
        return compile_re2(expand(pattern))
    except PatternError:
        return re.compile(expand(pattern), re.I)


# (regex, action); the first that matches wins. Named groups: ip, user.
_SERVICE: list[tuple[Any, str]] = [(_compile(e["pattern"]), e["action"]) for e in _P["login_failures"]]
# Attempts that are not logins: mail relaying and recipient probing, protocol abuse, a handshake that
# went nowhere. (regex, action, category); named groups: ip, user.
_ABUSE: list[tuple[Any, str, str]] = [(_compile(e["pattern"]), e["action"], e["category"])
                                      for e in _P["refused_attempts"]]
_GENERIC = compile_re2(_P["generic_failure"])
_ANY_IP = compile_re2(IP)
_USER = compile_re2(_P["user"])
# Failures of the server's own making, not the client's: no attempt to count.
_SERVER_SIDE = compile_re2(_P["server_side"])


def _prefilter() -> Callable[[str], set[int]]:
    """One RE2 pass that says which of the patterns above can match a message (indices into _SERVICE, then
    _ABUSE): most syslog lines match none, and trying a hundred patterns one by one cost most of the syslog
    parser's time. Python-only syntax (lookahead) is dropped for the prefilter, which may only be looser."""
    rs = re2.Set.SearchSet(options())
    always: set[int] = set()
    for i, rx in enumerate([r for r, _ in _SERVICE] + [r for r, _, _ in _ABUSE]):
        src = re.sub(r"\(\?[!=][^)]*\)", "", rx.pattern)
        try:
            n = rs.Add(src)
        except Exception:  # noqa: BLE001 - RE2 refuses some Python syntax: such a pattern is always tried
            always.add(i)
            rs.Add("a^")  # a pattern that never matches keeps the indices aligned
            continue
        assert n == i
    rs.Compile()

    def candidates(msg: str) -> set[int]:
        found = rs.Match(msg)
        return set(found) | always if found else always
    return candidates


_CANDIDATES = _prefilter()


def classify_auth(msg: str, ev: Event) -> bool:
    """Mark ``ev`` a failed authentication (or another kind of refused attempt) when ``msg`` is one; True when it
    was."""
    if _SERVER_SIDE.search(msg):
        return False
    for i in sorted(_CANDIDATES(msg)):
        if i < len(_SERVICE):
            rx, action = _SERVICE[i]
            if m := rx.search(msg):
                g = m.groupdict()
                return _mark(ev, action, g.get("ip"), g.get("user") or g.get("user2"), g.get("host"))
            continue
        rx, action, category = _ABUSE[i - len(_SERVICE)]
        if m := rx.search(msg):
            ev.update({"event.category": category, "event.type": "denied", "event.outcome": "failure",
                       "event.action": action})
            ip = m.group("ip") or next((x.group("ip") for x in _ANY_IP.finditer(m.group(0))), None)
            if ip and (c := clean_ip(ip)):
                ev["source.ip"] = c
            return True
    if _GENERIC.search(msg):
        ip = next((c for c in (clean_ip(x.group("ip")) for x in _ANY_IP.finditer(msg)) if c), None)
        if ip:
            um = _USER.search(msg)
            return _mark(ev, "login", ip, um.group("user") if um else None)
    return False


def classify_app_message(msg: str, ev: Event) -> bool:
    """Only a service's own failure phrase, for messages whose client the caller already knows: no address
    is taken from the text, which may hold what the client sent."""
    for i in sorted(_CANDIDATES(msg)):
        if i < len(_SERVICE) and "ip" not in (rx := _SERVICE[i][0]).groupindex and (m := rx.search(msg)):
            g = m.groupdict()
            return _mark(ev, _SERVICE[i][1], None, g.get("user") or g.get("user2"))
    return False


def _mark(ev: Event, action: str, ip: str | None, user: str | None, host: str | None = None) -> bool:
    """``host``: where a service names the client by address or name (mysqld's 'user'@'host')."""
    ev.update({"event.category": "authentication", "event.type": "start", "event.outcome": "failure",
               "event.action": action})
    if host and not ip:
        ip = host if clean_ip(host) else None
        if ip is None:
            ev["source.domain"] = host
    if ip and (c := clean_ip(ip)):
        ev["source.ip"] = c
    if user:
        ev["user.name"] = user
    return True
