"""Linux authentication messages: OpenSSH's sshd and PAM.

Each message becomes ECS authentication fields: ``event.category``
(authentication/session/network), ``event.action``, ``event.outcome``,
``user.name``, ``source.ip`` and ``source.port``.
"""

from __future__ import annotations

import re

from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.parse.util import clean_ip

_U = r"(?P<user>.*?)"
_H = r"(?P<ip>[0-9A-Fa-f:.]*[0-9A-Fa-f]|\S+?)"
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
    (re.compile(rf"Disconnecting invalid user (?P<user>\S*) +{_H}{_P}: Too many authentication failures"),
     "max_auth_attempts_summary", "authentication", "info", "unknown"),  # the failures were each logged already
    (re.compile(rf"(?:Disconnecting|Connection closed by|Disconnected from) invalid user (?P<user>\S*) +{_H}{_P}(?:[: ].*)?$"),
     "invalid_user", "authentication", "start", "failure"),
    # A client that started to authenticate and went away, or whose attempt the server refused, failed to log in.
    (re.compile(rf"(?:Connection closed|Connection reset|Disconnected) (?:by|from) authenticating user {_U} {_H}{_P} \[preauth\]"),
     "ssh_auth_abandoned", "authentication", "start", "failure"),
    (re.compile(rf"(?:error: )?Received disconnect from {_H}{_P}: ?\d+: (?:.*\bAuth fail\b|No (?:supported )?authentication methods available)"),
     "ssh_auth_abandoned", "authentication", "start", "failure"),
    # Before any authentication: a handshake that failed or went nowhere is a probe of the service.
    (re.compile(rf"(?:error: )?(?:Received disconnect|Disconnecting)(?: from)? (?:(?:authenticating|invalid) user {_U} )?{_H}{_P}: ?(?:\d+: )?.*\[preauth\]"),
     "disconnect_preauth", "network", "end", "failure"),
    (re.compile(rf"(?:Connection closed|Disconnected|Connection reset) (?:by|from) (?:invalid user {_U} )?{_H}{_P} \[preauth\]"),
     "disconnect_preauth", "network", "end", "failure"),
    (re.compile(r"(?:fatal: )?Read from socket failed: Connection reset by peer \[preauth\]"),
     "disconnect_preauth", "network", "end", "failure"),
    (re.compile(rf"banner exchange: Connection from {_H}{_P}: invalid format"),
     "negotiation_failed", "network", "connection", "failure"),
    (re.compile(rf"ssh_dispatch_run_fatal: Connection from {_H}{_P}: .*\[preauth\]"),
     "negotiation_failed", "network", "connection", "failure"),
    (re.compile(rf"(?:fatal: )?Timeout before authentication for (?:connection from )?{_H}{_P}"),
     "timeout_preauth", "network", "end", "failure"),
    (re.compile(rf"Did not receive identification string from {_H}{_P}"),
     "no_identification", "network", "connection", "failure"),
    (re.compile(rf"(?:fatal: )?Unable to negotiate with {_H}{_P}"),
     "negotiation_failed", "network", "connection", "failure"),
    (re.compile(rf"(?:error: )?Bad protocol version identification .*? from {_H}{_P}\s*$"),
     "negotiation_failed", "network", "connection", "failure"),
    (re.compile(r"(?:error: )?(?:kex_exchange_identification: |fatal: Unable to negotiate a key exchange method|fatal: no matching \w+ found)"),
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
             "Too many", "maximum authentication", "not allowed", "Too many authentication", "nvalid user",
             "authenticating user", "Received disconnect", "isconnect", "onnect", "Read from socket", "banner exchange",
             "ssh_dispatch_run_fatal", "Timeout before authentication", "identification string", "Unable to negotiate",
             "Bad protocol", "", "reverse mapping", "isconnect", "Connection from", "input_userauth_request"]
assert len(_KEYWORDS) == len(_SSHD)
_SSHD_KEYED = [(k, rx, a, c, t, o) for k, (rx, a, c, t, o) in zip(_KEYWORDS, _SSHD)]

_PAM_KV = re.compile(r"(\w+)=(\S*)")
_PAM_RHOST = re.compile(r"\bruser=\S*\s+rhost=(\S+)")
_PAM_HEAD = re.compile(r"(?:(?P<mod>pam_\w+)\((?P<svc>[^:)]+):(?P<kind>\w+)\): )?(?P<rest>.*)")


def _apply(m: re.Match[str], ev: Event, action: str, cat: str, typ: str, outcome: str) -> None:
    if action == "ssh_login" and outcome == "failure" and m.groupdict().get("method") == "publickey" \
            and "invalid user" not in m.group(0):
        # clients offer each of their keys in turn: a refused key is negotiation, not guessing (unless the
        # account doesn't exist: then it is someone trying accounts)
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


_PIDS_KEPT = 4096


def parse_sshd(msg: str, ev: Event, st: ParseState) -> None:
    ev["event.dataset"] = "sshd"
    if msg.startswith(("pam_", "(pam_")) or "pam_unix(" in msg or (msg.startswith("PAM ") and "more authentication failure" in msg):
        parse_pam(msg, ev, st)
        ev["event.dataset"] = "sshd"
        if st.extra.get("sshd_reports_failures") and ev.get("event.outcome") == "failure":
            # This sshd logs each failure on its own line ("Failed password ..."); PAM's line is the same
            # attempt told twice.
            ev.update({"event.type": "info", "event.outcome": "unknown"})
        _remember_pid(ev, st)
        return
    for kw, rx, action, cat, typ, outcome in _SSHD_KEYED:
        if kw not in msg:
            continue
        m = rx.search(msg)
        if m:
            _apply(m, ev, action, cat, typ, outcome)
            if action in ("ssh_login", "invalid_user") and outcome == "failure":
                st.extra["sshd_reports_failures"] = True
            break
    _remember_pid(ev, st)


def _remember_pid(ev: Event, st: ParseState) -> None:
    """sshd names the client on the connection's first lines only; later lines of the same process (too many
    failures, a reset before authentication) are tied to it through the process id."""
    pid = ev.get("process.pid")
    if pid is None:
        return
    pids: dict[int, str] = st.extra.setdefault("sshd_pid_ip", {})
    if ip := ev.get("source.ip"):
        if pid not in pids and len(pids) >= _PIDS_KEPT:
            del pids[next(iter(pids))]
        pids[pid] = ip
    elif "event.action" in ev and pid in pids:
        ev["source.ip"] = pids[pid]


def parse_pam(msg: str, ev: Event, st: ParseState) -> None:
    """pam_unix and friends: auth failures, session open/close, 'N more failures'."""
    ev["event.dataset"] = "pam"
    head = _PAM_HEAD.match(msg.replace("(pam_unix) ", "", 1).replace("pam_unix: ", "", 1))
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
        # ruser comes before rhost and user after it, and both are the client's text: the real rhost is the
        # one that follows ruser's single token ("ruser=rhost=1.2.3.4 rhost=192.0.2.9" is 192.0.2.9)
        rm = _PAM_RHOST.search(rest)
        rhost = rm.group(1) if rm else kv.get("rhost")
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
