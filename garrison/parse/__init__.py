"""Parsers: one per log family, each turning a raw record into an ECS event.

``parse_record(record, state)`` is the stage's interface. The format comes from
``record.format`` or ``state.format`` (``--format``), or is detected from the
line's shape; JSON objects are classified by their keys. A record that no
parser accepts raises ``ParseError`` with the reason; the pipeline quarantines it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from garrison.errors import ParseError
from garrison.model import Event, RawRecord
from garrison.parse import auditd, firewall, generic, mail, microsoft, network, sentinel, syslog, waf, web, windows
from garrison.parse._state import ParseState

__all__ = ["ParseState", "parse_record", "detect_text", "TEXT_PARSERS", "JSON_PARSERS", "FORMATS"]

TextParser = Callable[[str, ParseState], "Event | None"]
JsonParser = Callable[[dict[str, Any], str, ParseState], Event]

TEXT_PARSERS: dict[str, TextParser] = {
    "syslog": syslog.parse_syslog,
    "cef": firewall.parse_cef,
    "access": web.parse_access,
    "iis": web.parse_iis,
    "apache_error": web.parse_apache_error,
    "nginx_error": web.parse_nginx_error,
    "applog": web.parse_applog,
    "squid": web.parse_squid,
    "windows_xml": windows.parse_windows_xml,
    "auditd": auditd.parse_auditd,
    "raw": generic.parse_raw,
    "eml": mail.parse_eml,  # a whole message (sources/mail.py), never detected from a line's shape
    "email_report": mail.parse_report,
}
JSON_PARSERS: dict[str, JsonParser] = {
    "nxlog": windows.parse_nxlog,
    "winlogbeat": windows.parse_winlogbeat,
    "evtx_json": windows.parse_evtx_json,
    "entra_signin": microsoft.parse_signin,
    "entra_audit": microsoft.parse_audit,
    "m365": microsoft.parse_m365,
    "graph_alert": microsoft.parse_graph_alert,
    "graph_risky_user": microsoft.parse_risky_user,
    "sentinel": sentinel.parse_sentinel,
    "zeek": network.parse_zeek,
    "suricata": network.parse_suricata,
    "modsecurity_audit": waf.parse_modsec_audit_json,
    "waf_json": waf.parse_waf_json,
    "generic_json": generic.parse_generic_json,
}
# 'json' detects the JSON flavour per record; 'evtx' is a binary file format read by sources.
FORMATS = sorted([*TEXT_PARSERS, *JSON_PARSERS, "json", "evtx"])

_BSD = re.compile(r"(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d ")
_ISO_HOST = re.compile(r"(?:<\d{1,3}>)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \S+ [^\s:]+:")
_NGINX_ERR = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#")
_APACHE_ERR = re.compile(r"\[\w{3} \w{3} \d\d \d\d:\d\d:\d\d")


def detect_text(line: str) -> str | None:
    """Guess a line's format from its shape; None when nothing fits."""
    s = line.lstrip("\ufeff")
    if s.startswith("{"):
        return "json"
    if s.startswith("<Event"):
        return "windows_xml"
    if s.startswith("<") and re.match(r"<\d{1,3}>", s):
        return "syslog"
    if s.startswith("CEF:"):
        return "cef"
    if (s.startswith("type=") or s.startswith("node=")) and auditd.RECORD.match(s):
        return "auditd"
    if s.startswith("#Software:") or s.startswith("#Version:") or s.startswith("#Fields:"):
        return "iis"
    if _BSD.match(s) or _ISO_HOST.match(s):
        return "syslog"
    if web.ACCESS.match(s):
        return "access"
    if web.SQUID.match(s):
        return "squid"
    if _APACHE_ERR.match(s):
        return "apache_error"
    if _NGINX_ERR.match(s):
        return "nginx_error"
    if web._APP_STAMP.match(s):
        return "applog"
    if syslog.JOURNAL_NOTIME.fullmatch(s):
        return "syslog"
    return None


def classify_json(obj: dict[str, Any]) -> str:
    if "TimeGenerated" in obj and sentinel.table_of(obj):  # a Log Analytics row (history from Sentinel)
        return "sentinel"
    return windows.classify(obj) or microsoft.classify(obj) or network.classify(obj) or waf.classify(obj) or "generic_json"


# Keys that hold exactly one network address in the JSON formats Garrison reads (Suricata, Zeek,
# Entra ID, Microsoft 365, ECS, Windows). Others (Zeek's san.ip, ECS related.ip) are lists by design.
_SINGLE_ADDRESS = frozenset(("src_ip", "dest_ip", "id.orig_h", "id.resp_h", "ipAddress", "ClientIP", "ClientIPAddress",
                             "IpAddress", "ip", "client_ip", "remote_ip", "src", "dst"))


def _check_addresses(obj: dict[str, Any], path: str = "", depth: int = 0) -> None:
    """An address given as a list or an object is hostile or broken input: refuse the record, naming the field."""
    for k, v in obj.items():
        if isinstance(v, dict):
            if k in _SINGLE_ADDRESS:
                raise ParseError(f"{path}{k}: expected an address, got an object")
            if depth < 3:
                _check_addresses(v, f"{path}{k}.", depth + 1)
        elif isinstance(v, list) and k in _SINGLE_ADDRESS and not path.startswith(("host.", "related.", "observer.")):
            raise ParseError(f"{path}{k}: expected an address, got a list")


def _parse_json(obj: Any, text: str, fmt: str, st: ParseState) -> Event:
    if not isinstance(obj, dict):
        raise ParseError(f"JSON value is a {type(obj).__name__}, expected an object")
    _check_addresses(obj)
    name = classify_json(obj) if fmt == "json" else fmt
    try:
        return JSON_PARSERS[name](obj, text, st)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ParseError(f"{name}: {type(e).__name__}: {e}") from e


def _parse_text(text: str, fmt: str, st: ParseState) -> Event | None:
    if fmt == "json" or fmt in JSON_PARSERS:
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise ParseError(f"malformed JSON: {e}") from e
        return _parse_json(obj, text, fmt, st)
    parser = TEXT_PARSERS.get(fmt)
    if parser is None:
        raise ParseError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    try:
        return parser(text, st)
    except ParseError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise ParseError(f"{fmt}: {type(e).__name__}: {e}") from e


def parse_record(rec: RawRecord, st: ParseState) -> Event | None:
    """Parse one record. Returns None for records that carry no event (format directives).

    A stream keeps the format detected on its first line; a line that format refuses is detected
    again, so files that mix formats (syslog with JSON payload lines, say) still parse.
    """
    fmt = rec.format or st.format
    if rec.obj is not None:
        return _parse_json(rec.obj, rec.text or orjson.dumps(rec.obj).decode(), fmt or "json", st)
    text = rec.text or ""
    if fmt is None:
        fmt = detect_text(text)
        if fmt is None:
            raise ParseError("unknown format: no parser recognises this line (use --format to choose one)")
        if not st.forced:
            st.format = fmt
    try:
        return _parse_text(text, fmt, st)
    except ParseError:
        if st.forced or rec.format:
            raise
        other = detect_text(text)
        if other is None or other == fmt:
            if fmt != "applog" and web._APP_STAMP.match(text):
                # looked like syslog but isn't: an application's own line with a leading time
                return _parse_text(text, "applog", st)
            raise
        try:
            return _parse_text(text, other, st)
        except ParseError:
            if other != "applog" and web._APP_STAMP.match(text):
                return _parse_text(text, "applog", st)
            raise
