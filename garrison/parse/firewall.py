"""Firewall logs: Linux netfilter (iptables/nftables/ufw), pfSense/OPNsense filterlog, CEF.

All map to ECS network fields: ``source.*``, ``destination.*``,
``network.transport``, ``event.action`` (allow/block/...) and ``event.type``
(allowed/denied/connection).
"""

from __future__ import annotations

import re

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.model.time import any_us
from garrison.parse.util import clean_ip, to_int

_NF_KV = re.compile(r"([A-Z]+)=(\S*)")
_DENY_WORDS = ("DROP", "BLOCK", "REJECT", "DENY", "DENIED")
_ALLOW_WORDS = ("ACCEPT", "ALLOW", "PASS")


def _verdict(ev: Event, action: str) -> None:
    a = action.lower()
    ev["event.action"] = a
    if a in ("block", "drop", "reject", "deny", "denied"):
        ev["event.type"] = "denied"
        ev["event.outcome"] = "failure"
    elif a in ("pass", "allow", "accept", "permit", "allowed"):
        ev["event.type"] = "allowed"
        ev["event.outcome"] = "success"
    else:
        ev["event.type"] = "connection"


def parse_netfilter_message(msg: str, ev: Event, st: ParseState) -> None:
    """Kernel log line with IN= OUT= SRC= DST= PROTO= SPT= DPT= (iptables, nftables, ufw)."""
    ev["event.dataset"] = "firewall.netfilter"
    ev["event.category"] = "network"
    ev["observer.type"] = "firewall"
    ev["observer.product"] = "netfilter"
    cut = msg.find("IN=")
    prefix = msg[:cut] if cut >= 0 else ""
    # '[12345.678] [UFW BLOCK] ' -> 'UFW BLOCK'
    prefix = re.sub(r"^\[\s*[\d.]+\]\s*", "", prefix).strip().strip("[]: ")
    if prefix:
        ev["rule.name"] = prefix
    up = prefix.upper()
    if any(w in up for w in _DENY_WORDS):
        _verdict(ev, "block")
    elif any(w in up for w in _ALLOW_WORDS):
        _verdict(ev, "allow")
    else:
        # Most kernel firewall logging is configured on the drop path.
        _verdict(ev, "block")
    kv = dict(_NF_KV.findall(msg))
    if kv.get("IN"):
        ev["observer.ingress.interface.name"] = kv["IN"]
        ev["network.direction"] = "inbound"
    if kv.get("OUT"):
        ev["observer.egress.interface.name"] = kv["OUT"]
        ev.setdefault("network.direction", "outbound")
    src, dst = clean_ip(kv.get("SRC")), clean_ip(kv.get("DST"))
    if not src:
        raise ParseError("netfilter line without a valid SRC=")
    ev["source.ip"] = src
    if dst:
        ev["destination.ip"] = dst
    if kv.get("PROTO"):
        ev["network.transport"] = kv["PROTO"].lower()
    if (p := to_int(kv.get("SPT"))) is not None:
        ev["source.port"] = p
    if (p := to_int(kv.get("DPT"))) is not None:
        ev["destination.port"] = p
    if kv.get("MAC"):
        ev["netfilter.mac"] = kv["MAC"]


def parse_filterlog_message(msg: str, ev: Event, st: ParseState) -> None:
    """pfSense/OPNsense filterlog CSV (IPv4 and IPv6, tcp/udp/icmp)."""
    f = msg.strip().split(",")
    if len(f) < 9 or f[8] not in ("4", "6"):
        raise ParseError("filterlog: expected CSV with an IP version in field 9")
    ev["event.dataset"] = "firewall.filterlog"
    ev["event.category"] = "network"
    ev["observer.type"] = "firewall"
    ev["observer.product"] = "pfsense"
    ev["rule.id"] = f[3] or f[0]
    ev["observer.ingress.interface.name"] = f[4]
    _verdict(ev, f[6])
    ev["network.direction"] = {"in": "inbound", "out": "outbound"}.get(f[7], f[7])
    if f[8] == "4":
        # tos,ecn,ttl,id,offset,flags,protoid,protoname,length,src,dst
        if len(f) < 20:
            raise ParseError("filterlog: IPv4 record too short")
        proto, src, dst, rest = f[16].lower(), f[18], f[19], f[20:]
    else:
        # class,flowlabel,hoplimit,protoname,protoid,length,src,dst
        if len(f) < 17:
            raise ParseError("filterlog: IPv6 record too short")
        proto, src, dst, rest = f[12].lower(), f[15], f[16], f[17:]
    ev["network.transport"] = proto
    ev["network.type"] = "ipv" + f[8]
    if s := clean_ip(src):
        ev["source.ip"] = s
    if d := clean_ip(dst):
        ev["destination.ip"] = d
    if proto in ("tcp", "udp") and len(rest) >= 2:
        if (p := to_int(rest[0])) is not None:
            ev["source.port"] = p
        if (p := to_int(rest[1])) is not None:
            ev["destination.port"] = p
    if "source.ip" not in ev:
        raise ParseError("filterlog: no valid source address")


_CEF_EXT_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z0-9_.\[\]-]+)=")
_CEF_MAP = {
    "src": "source.ip", "dst": "destination.ip", "spt": "source.port", "dpt": "destination.port",
    "suser": "source.user.name", "duser": "user.name", "shost": "source.domain", "dhost": "destination.domain",
    "act": "event.action", "proto": "network.transport", "request": "url.original",
    "requestMethod": "http.request.method", "requestClientApplication": "user_agent.original",
    "msg": "message", "dvchost": "observer.name", "cs1": "cef.cs1",
}


def _cef_unescape(s: str) -> str:
    return s.replace("\\=", "=").replace("\\|", "|").replace("\\\\", "\\").replace("\\n", "\n").strip()


def _split_header(s: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(s) and len(parts) < 7:
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c == "|":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append(s[i:] if len(parts) == 7 else "".join(cur))
    return parts


def parse_cef_message(msg: str, ev: Event, st: ParseState) -> None:
    at = msg.find("CEF:")
    if at < 0:
        raise ParseError("CEF: no 'CEF:' header")
    body = msg[at + 4 :].lstrip()
    h = _split_header(body)
    if len(h) < 8:
        raise ParseError("CEF: expected 7 '|'-separated header fields and an extension")
    ev["event.dataset"] = "cef"
    ev["observer.vendor"] = _cef_unescape(h[1])
    ev["observer.product"] = _cef_unescape(h[2])
    ev["observer.version"] = _cef_unescape(h[3])
    ev["event.code"] = _cef_unescape(h[4])
    ev["rule.name"] = _cef_unescape(h[5])
    sev = h[6].strip()
    ev["cef.severity"] = sev
    if (n := to_int(sev)) is not None:
        ev["event.severity"] = n
    ext = h[7]
    keys = list(_CEF_EXT_KEY.finditer(ext))
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(ext)
        key, val = m.group(1), _cef_unescape(ext[m.end() : end])
        target = _CEF_MAP.get(key)
        if target is None:
            ev["cef.extensions." + key] = val
        elif target.endswith(".ip"):
            if ip := clean_ip(val):
                ev[target] = ip
        elif target.endswith(".port"):
            if (p := to_int(val)) is not None:
                ev[target] = p
        else:
            ev[target] = val
    if "rt" in (m.group(1) for m in keys):
        try:
            ev["@timestamp"] = any_us(ev["cef.extensions.rt"])
        except (ValueError, KeyError):
            pass
    if "event.action" in ev:
        _verdict(ev, str(ev["event.action"]))
    ev.setdefault("event.category", "network" if "source.ip" in ev or "destination.ip" in ev else "host")


def parse_cef(text: str, st: ParseState) -> Event:
    ev: Event = {"event.original": text, "event.kind": "event"}
    parse_cef_message(text, ev, st)
    return ev
