"""Syslog: RFC 3164 (BSD) and RFC 5424, over any transport or from files.

The envelope gives host, program, pid and message; the message is then handed
to a program-specific parser (sshd, PAM, iptables, pfSense filterlog, CEF)
chosen by ``APP_PARSERS`` or by the message's shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse import auditd, firewall, linux_auth, maillog, services, web
from garrison.parse._state import ParseState
from garrison.model.time import bsd_us, iso_us

# <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]
_RFC5424 = re.compile(r"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)", re.S)
# [<PRI>]Mmm dd hh:mm:ss HOST TAG[PID]: MSG   (TAG may be absent)
_RFC3164 = re.compile(
    r"(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d)(?:\.\d+)? (?:(\S+) )?"
    r"\[?([^\s:\[\]]+)\]?(?:\[(\d+)\])?(?:: ?|(?<=\]) )(.*)",
    re.S,
)
_RFC3164_NOHOST = re.compile(
    r"(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d)(?:\.\d+)? ()([^\s:\[\]]+)(?:\[(\d+)\])?: ?(.*)", re.S)
# rsyslog file format: ISO stamp HOST TAG[PID]: MSG
_ISO_SYSLOG = re.compile(
    r"(?:<(\d{1,3})>)?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) (\S+) "
    r"([^\s:\[]+)(?:\[(\d+)\])?: ?(.*)",
    re.S,
)
# RFC 3164 header whose TAG is missing or malformed ('syslogd 1.4.1: restart.')
_RFC3164_NOTAG = re.compile(r"(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d) (\S+) (.*)", re.S)
# Values may hold an unescaped ']' although RFC 5424 says it must be escaped; real senders do it.
# journalctl's output without a time ('host sshd[123]: message'): the time is the ingest time
JOURNAL_NOTIME = re.compile(r"([\w.-]+) ([^\s:\[]+)\[(\d+)\]: (.*)", re.S)
_SD_ELEMENT = re.compile(r'\[([^\s\]=]+)((?:\s+[^\s=\]]+="(?:[^"\\]|\\.)*")*)\s*\]')
_SD_PARAM = re.compile(r'([^\s=\]]+)="((?:[^"\\]|\\.)*)"')
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')

MessageParser = Callable[[str, Event, ParseState], None]

# program name -> parser that adds ECS fields from the message
APP_PARSERS: dict[str, MessageParser] = {
    "sshd": linux_auth.parse_sshd,
    "sshd-session": linux_auth.parse_sshd,
    "sshd-auth": linux_auth.parse_sshd,
    "filterlog": firewall.parse_filterlog_message,
}


def _pri(ev: Event, pri: str | None) -> None:
    if pri is not None:
        p = int(pri)
        ev["log.syslog.priority"] = p
        ev["log.syslog.facility.code"] = p >> 3
        ev["log.syslog.severity.code"] = p & 7


def _structured_data(sd: str) -> tuple[dict[str, dict[str, str]], str]:
    """Parse SD-ELEMENTs at the start of ``sd``; return them and the rest (the MSG)."""
    out: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(sd) and sd[pos] == "[":
        m = _SD_ELEMENT.match(sd, pos)
        if not m:
            raise ParseError(f"malformed RFC 5424 structured data at column {pos}")
        params = {k: _SD_UNESCAPE.sub(r"\1", v) for k, v in _SD_PARAM.findall(m.group(2))}
        out[m.group(1)] = params
        pos = m.end()
    rest = sd[pos:]
    return out, rest[1:] if rest.startswith(" ") else rest


def _dispatch(app: str, msg: str, ev: Event, st: ParseState) -> None:
    fn = APP_PARSERS.get(app)
    if app == "CEF" and msg[:1].isdigit():
        firewall.parse_cef_message("CEF:" + msg, ev, st)
    elif fn is not None:
        fn(msg, ev, st)
    elif msg.startswith("CEF:") or msg.startswith("CEF: "):
        firewall.parse_cef_message(msg, ev, st)
    elif (msg.startswith("type=") or msg.startswith("node=")) and "audit(" in msg[:300]:
        ev["event.dataset"] = "auditd"  # audisp-syslog / audispd forwarding audit records
        auditd.apply_records(msg, ev)
    elif app == "kernel" and "SRC=" in msg and ("IN=" in msg or "OUT=" in msg):
        firewall.parse_netfilter_message(msg, ev, st)
    elif "pam_unix(" in msg or "pam_sss(" in msg or "(pam_" in app or "(pam_unix)" in msg or msg.startswith("pam_unix: "):
        linux_auth.parse_pam(msg, ev, st)
    elif app.startswith("postfix"):
        maillog.parse_postfix(msg, ev, st)
    elif app.split("/")[0] in ("httpd", "apache2", "apache") and msg.startswith("["):
        ev["event.dataset"] = "web.error"
        web.apache_error_message(msg, ev, st)
    else:
        ev["event.dataset"] = "syslog"
        services.classify_auth(msg, ev)


def parse_syslog(text: str, st: ParseState) -> Event:
    ev: Event = {"event.original": text, "event.kind": "event"}
    if text.startswith("<") and (m := _RFC5424.match(text)):
        pri, version, stamp, host, app, procid, msgid, rest = m.groups()
        _pri(ev, pri)
        ev["log.syslog.version"] = int(version)
        if stamp != "-":
            ev["@timestamp"] = iso_us(stamp)
        if host != "-":
            ev["host.name"] = host
        if app != "-":
            ev["process.name"] = app
        if procid != "-" and procid.isdigit():
            ev["process.pid"] = int(procid)
        if msgid != "-":
            ev["log.syslog.msgid"] = msgid
        if rest.startswith("-"):
            msg = rest[2:] if rest.startswith("- ") else rest[1:]
        else:
            sd, msg = _structured_data(rest)
            if sd:
                ev["log.syslog.structured_data"] = sd
        if msg.startswith("\ufeff"):
            msg = msg[1:]
    else:
        m = _RFC3164.match(text) or _ISO_SYSLOG.match(text)
        if m and m.group(3) and m.group(3).endswith(":") and (nh := _RFC3164_NOHOST.match(text)):
            m = nh  # 'Mmm dd hh:mm:ss tag[pid]: 1.2.3.4:5 ...': no host; a host name never ends with ':'
        if m:
            pri, stamp, host, app, pid, msg = m.groups()
        elif nt := _RFC3164_NOTAG.match(text):
            pri, stamp, host, msg = nt.groups()
            app = pid = None
        elif jn := JOURNAL_NOTIME.fullmatch(text):
            host, app, pid, msg = jn.groups()
            pri, stamp = None, None
        else:
            raise ParseError("not syslog: no RFC 3164 or RFC 5424 header")
        _pri(ev, pri)
        if stamp:
            ev["@timestamp"] = bsd_us(stamp, st.reference_us) if stamp[0].isalpha() else iso_us(stamp)
        if host:
            ev["host.name"] = host
        if app:
            ev["process.name"] = app
        if pid:
            ev["process.pid"] = int(pid)
    ev["message"] = msg
    _dispatch(ev.get("process.name", ""), msg, ev, st)
    return ev
