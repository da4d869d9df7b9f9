"""Linux authentication messages: OpenSSH's sshd and PAM.

Each message becomes ECS authentication fields: ``event.category``
(authentication/session/network), ``event.action``, ``event.outcome``,
``user.name``, ``source.ip`` and ``source.port``.
"""

from __future__ import annotations

import re

from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.parse._util import clean_ip

_U = r"(?P<user>.*?)"
_H = r"(?P<ip>[0-9A-Fa-f:.]+|\S+?)"
_P = r"(?: port (?P<port>\d+))?"

# (regex, action, category, type, outcome). First match wins; order matters.
_SSHD: list[tuple[re.Pattern[str], str, str, str, str]] = [
    # The user name is attacker-chosen and may itself contain ' from 1.2.3.4 port 1 ssh2': the real
    # address is the first 'from' whose 'port N sshN' is followed by ':' or the end of the line.
    (re.compile(rf"Failed (?P<method>\S+) for (?:invalid user )?(?P<user>.*?) from {_H}{_P}(?: ssh\d?)?(?=:|\s*\]?\s*$|\s*\[preauth\]\s*$)"),
     "ssh_login", "authentication", "start", "failure"),
    (re.compile(rf"Accepted (?P<method>\S+) for (?P<user>.*?) from {_H}{_P}(?: ssh\d?)?(?=:|\s*$)"),
     "ssh_login", "authentication", "start", "success"),
    (re.compile(rf"[Ii]nvalid user {_U} from {_H}{_P}\s*$"),
     "invalid_user", "authentication", "start", "failure"),
    (re.compile(rf"(?:error: )?(?:PAM: )?[Aa]uthentication (?:failure|error) for (?:illegal user |invalid user )?{_U} from {_H}(?: via \S+)?\s*$"),
     "ssh_login", "authentication", "start", "failure"),
    (re.compile(rf"(?:error: )?PAM: User not known to the underlying authentication module for (?:illegal user |invalid user )?{_U} from {_H}\s*$"),
     "invalid_user", "authentication", "start", "failure"),
    (re.compile(rf"ROOT LOGIN REFUSED FROM (?:::ffff:)?{_H}{_P}"),
     "root_login_refused", "authentication", "start", "failure"),
    (re.compile(rf"refused connect from \S*? ?\((?:::ffff:)?{_H}\)"),
     "connection_refused", "network", "connection", "failure"),
    (re.compile(rf"Disconnecting: Too many authentication failures(?: for (?:invalid user )?{_U})?(?: \[preauth\])?\s*$"),
     "max_auth_attempts", "authentication", "start", "failure"),
    (re.compile(rf"(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?{_U} from {_H}{_P}"),
     "max_auth_attempts", "authentication", "start", "failure"),
    (re.compile(rf"User {_U} from {_H} not allowed because"),
     "user_not_allowed", "authentication", "start", "failure"),
    (re.compile(rf"(?:Disconnecting|Connection closed by|Disconnected from) invalid user (?P<user>\S*) +{_H}{_P}(?:[: ].*)?$"),
     "invalid_user", "authentication", "start", "failure"),
    (re.compile(rf"(?:error: )?(?:Received disconnect|Disconnecting)(?: from)? (?:authenticating user |invalid user )?(?:{_U} )?{_H}{_P}: ?(?:\d+: )?.*\[preauth\]"),
     "disconnect_preauth", "network", "end", "unknown"),
    (re.compile(rf"(?:Connection closed|Disconnected|Connection reset) (?:by|from) (?:authenticating user |invalid user )?(?:{_U} )?{_H}{_P} \[preauth\]"),
     "disconnect_preauth", "network", "end", "unknown"),
    (re.compile(rf"banner exchange: Connection from {_H}{_P}: invalid format"),
     "negotiation_failed", "network", "connection", "failure"),
    (re.compile(rf"(?:fatal: )?Timeout before authentication for (?:connection from )?{_H}{_P}"),
     "timeout_preauth", "network", "end", "failure"),
    (re.compile(rf"Did not receive identification string from {_H}{_P}"),
     "no_identification", "network", "connection", "failure"),
    (re.compile(rf"(?:error: )?(?:kex_exchange_identification|Unable to negotiate with|Bad protocol version identification).*?(?:from |with ){_H}{_P}(?:[: ]|$)"),
     "negotiation_failed", "network", "connection", "failure"),
    (re.compile(rf"reverse mapping checking getaddrinfo for \S+ \[{_H}\] failed"),
     "reverse_mapping_failed", "network", "info", "unknown"),
    (re.compile(rf"(?:error: )?(?:Received disconnect|Disconnected) from (?:user {_U} )?{_H}{_P}"),
     "disconnect", "network", "end", "unknown"),
    (re.compile(rf"Connection from {_H}{_P}"),
     "connection", "network", "connection", "unknown"),
    # sshd logs the same attempt again here; counted once, on the 'Invalid user' line
    (re.compile(rf"input_userauth_request: invalid user {_U}(?: \[preauth\])?\s*$"),
     "invalid_user_request", "authentication", "info", "unknown"),
]

# A literal each pattern needs, in _SSHD's order: a substring test is far cheaper than a failed regex search.
_KEYWORDS = ["Failed ", "Accepted ", "nvalid user ", "uthentication ", "not known", "ROOT LOGIN", "refused connect",
             "Too many", "maximum authentication", "not allowed", "nvalid user", "isconnect", "onnect",
             "banner exchange", "Timeout before authentication", "identification", "", "reverse mapping", "isconnect", "Connection from", "input_userauth_request"]
assert len(_KEYWORDS) == len(_SSHD)
_SSHD_KEYED = [(k, rx, a, c, t, o) for k, (rx, a, c, t, o) in zip(_KEYWORDS, _SSHD)]

_PAM_KV = re.compile(r"(\w+)=(\S*)")
_PAM_HEAD = re.compile(r"(?:(?P<mod>pam_\w+)\((?P<svc>[^:)]+):(?P<kind>\w+)\): )?(?P<rest>.*)")


def _apply(m: re.Match[str], ev: Event, action: str, cat: str, typ: str, outcome: str) -> None:
    if action == "ssh_login" and outcome == "failure" and m.groupdict().get("method") == "publickey":
        # clients offer each of their keys in turn: a refused key is negotiation, not guessing
        action, typ, outcome = "ssh_key_rejected", "info", "unknown"
    ev["event.action"] = action
    ev["event.category"] = cat
    ev["event.type"] = typ
    ev["event.outcome"] = outcome
    g = m.groupdict()
    user = g.get("user")
    if user:
        ev["user.name"] = user
    ip = g.get("ip")
    if ip:
        cip = clean_ip(ip)
        if cip:
            ev["source.ip"] = cip
        else:
            ev["source.domain"] = ip
    port = g.get("port")
    if port:
        ev["source.port"] = int(port)
    method = g.get("method")
    if method:
        ev["sshd.auth_method"] = method


def parse_sshd(msg: str, ev: Event, st: ParseState) -> None:
    ev["event.dataset"] = "sshd"
    if msg.startswith("pam_") or "pam_unix(" in msg or (msg.startswith("PAM ") and "more authentication failure" in msg):
        parse_pam(msg, ev, st)
        ev["event.dataset"] = "sshd"
        return
    for kw, rx, action, cat, typ, outcome in _SSHD_KEYED:
        if kw not in msg:
            continue
        m = rx.search(msg)
        if m:
            _apply(m, ev, action, cat, typ, outcome)
            return


def parse_pam(msg: str, ev: Event, st: ParseState) -> None:
    """pam_unix and friends: auth failures, session open/close, 'N more failures'."""
    ev["event.dataset"] = "pam"
    head = _PAM_HEAD.match(msg.replace("(pam_unix) ", "", 1))
    rest = head.group("rest") if head else msg
    if head and head.group("svc"):
        ev["pam.service"] = head.group("svc")
    low = rest.lower()
    kv = dict(_PAM_KV.findall(rest))
    if "authentication failure" in low or "more authentication failure" in low:
        ev.update({"event.category": "authentication", "event.type": "start",
                   "event.outcome": "failure", "event.action": "pam_auth"})
        user = kv.get("user") or kv.get("ruser")
        if user:
            ev["user.name"] = user
        rhost = kv.get("rhost")
        if rhost:
            ip = clean_ip(rhost)
            if ip:
                ev["source.ip"] = ip
            else:
                ev["source.domain"] = rhost
    elif "session opened for user" in low or "session closed for user" in low:
        opened = "opened" in low
        m = re.search(r"for user (\S+?)(?:\(|\s|$)", rest)
        ev.update({"event.category": "session", "event.type": "start" if opened else "end",
                   "event.outcome": "success", "event.action": "session_" + ("opened" if opened else "closed")})
        if m:
            ev["user.name"] = m.group(1)
    elif "check pass; user unknown" in low:
        ev.update({"event.category": "authentication", "event.type": "start",
                   "event.outcome": "failure", "event.action": "user_unknown"})
