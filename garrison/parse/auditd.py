"""Linux audit logs: auditd's ``audit.log`` (and the same records over syslog from audisp).

A record is ``[node=HOST ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value ...``; one kernel event
writes several records with the same serial (SYSCALL, EXECVE, CWD, PATH, PROCTITLE, ... EOE). ``group``
joins consecutive records of one serial into one raw record, and ``parse_auditd`` makes one ECS event of
them, as Auditbeat does. Values are quoted text, hex-encoded text (when they hold spaces or control
characters: EXECVE arguments, proctitle, names) or bare tokens; ENRICHED logs add interpreted values
after a GS (0x1d) character in upper case (``UID="root"``). Records from PAM and user space carry a nested
``msg='...'`` whose pairs are read too.

Sigma's ``linux/auditd`` rules name the raw record fields (``type``, ``a0``, ``name``, ``SYSCALL``...): they
are kept under ``auditd.<name>``, as lists where the records of the event disagree (``type``, ``name``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from importlib import resources
from typing import Any

from garrison.errors import ParseError
from garrison.model import Event, RawRecord, Reject
from garrison.parse._state import ParseState
from garrison.parse.util import clean_ip, to_int

RECORD = re.compile(r"(?:node=(?P<node>\S+) )?type=(?P<type>\w+) (?:msg=)?audit\((?P<sec>\d{1,12})\.(?P<ms>\d{1,6}):"
                    r"(?P<serial>\d{1,20})\)\s?:\s?(?P<body>.*)", re.S)
_SERIAL = re.compile(r"audit\((\d{1,12}\.\d{1,6}:\d{1,20})\)")
_PAIR = re.compile(r"""([\w\[\]-]+)=("[^"]*"|'[^']*'|\S*)""")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_GLUED = re.compile(r"(?<=[^\s=])(?=(?:ARCH|SYSCALL|AUID|UID|GID|EUID|SUID|FSUID|EGID|SGID|FSGID|OUID|OGID|SADDR)=)")
MAX_RECORDS = 256  # records joined into one event (an EXECVE of a long command line is several)
MAX_ARGS = 128
# record types by number, as the kernel's own 'audit:' lines and some forwarders write them
_NUMBERED = {"1100": "USER_AUTH", "1101": "USER_ACCT", "1102": "USER_MGMT", "1103": "CRED_ACQ", "1104": "CRED_DISP",
             "1105": "USER_START", "1106": "USER_END", "1108": "USER_CHAUTHTOK", "1112": "USER_LOGIN",
             "1114": "ADD_USER", "1116": "ADD_GROUP", "1117": "DEL_USER", "1118": "DEL_GROUP", "1123": "USER_CMD",
             "1130": "SERVICE_START", "1131": "SERVICE_STOP", "1300": "SYSCALL", "1302": "PATH", "1305": "CONFIG_CHANGE",
             "1306": "SOCKADDR", "1307": "CWD", "1309": "EXECVE", "1320": "EOE", "1327": "PROCTITLE",
             "1400": "AVC", "1701": "ANOM_ABEND", "1006": "LOGIN", "1325": "NETFILTER_CFG", "1330": "KERN_MODULE"}
# fields whose unquoted value is hex-encoded text
_TEXT = re.compile(r"^(?:a\d+(?:\[\d+\])?|proctitle|name|comm|exe|cwd|cmd|acct|data|old|new|path|unit|key)$")
_SYSCALLS: dict[str, dict[str, str]] | None = None

# (category, type) per record type; the first record of an event that has one decides
_KIND = {
    "USER_AUTH": ("authentication", "start"), "USER_LOGIN": ("authentication", "start"),
    "LOGIN": ("authentication", "start"), "USER_ACCT": ("authentication", "info"),
    "USER_ERR": ("authentication", "info"),
    "ADD_USER": ("iam", "creation"), "DEL_USER": ("iam", "deletion"), "ADD_GROUP": ("iam", "creation"),
    "DEL_GROUP": ("iam", "deletion"), "USER_MGMT": ("iam", "change"), "GRP_MGMT": ("iam", "change"),
    "USER_CHAUTHTOK": ("iam", "change"), "GRP_CHAUTHTOK": ("iam", "change"), "ACCT_LOCK": ("iam", "change"),
    "ACCT_UNLOCK": ("iam", "change"), "ROLE_ASSIGN": ("iam", "change"),
    "USER_START": ("session", "start"), "USER_END": ("session", "end"), "CRED_ACQ": ("session", "info"),
    "CRED_DISP": ("session", "info"), "CRED_REFR": ("session", "info"),
    "USER_CMD": ("process", "start"), "EXECVE": ("process", "start"),
    "SERVICE_START": ("process", "start"), "SERVICE_STOP": ("process", "end"), "ANOM_ABEND": ("process", "end"),
    "KERN_MODULE": ("driver", "change"), "CONFIG_CHANGE": ("configuration", "change"),
    "DAEMON_START": ("process", "start"), "DAEMON_END": ("process", "end"), "NETFILTER_CFG": ("configuration", "change"),
    "AVC": ("intrusion_detection", "denied"), "SOCKADDR": ("network", "connection"), "PATH": ("file", "access"),
}


def syscall_name(arch: str | None, number: str | None) -> str | None:
    """The syscall's name from its number and the record's AUDIT_ARCH code (x86_64, i386, aarch64, arm)."""
    global _SYSCALLS
    if number is None or arch is None:
        return None
    if _SYSCALLS is None:
        _SYSCALLS = json.loads(resources.files("garrison.parse").joinpath("syscalls.json").read_text())
    table = _SYSCALLS.get(arch.lower())
    return table.get(number) if isinstance(table, dict) else None


def _text(value: str) -> str:
    """A value as the record means it: quoted text as it is, hex-encoded text decoded, anything else as it is."""
    if value[:1] in ('"', "'"):
        return value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
    if len(value) >= 2 and _HEX.fullmatch(value):
        raw = bytes.fromhex(value)
        return raw.replace(b"\x00", b" ").decode("utf-8", "replace").rstrip()
    return value


def fields(body: str, rtype: str = "") -> tuple[dict[str, str], dict[str, str]]:
    """(raw pairs, interpreted pairs) of one record's body; a nested msg='...' is read into the raw pairs.
    SYSCALL's a0..a3 are numbers in hex, never text."""
    raw_part, _, enriched = body.partition("\x1d")
    if not enriched and (g := _GLUED.search(body)):  # the GS lost on the way ('res=1AUID="bob"')
        raw_part, enriched = body[:g.start()], body[g.start():]
    raw: dict[str, str] = {}

    def value(k: str, v: str) -> str:
        if _TEXT.match(k) and not (k[0] == "a" and k[1:2].isdigit() and rtype != "EXECVE"):
            return _text(v)
        return v.strip('"')

    for k, v in _PAIR.findall(raw_part):
        if k == "msg" and v.startswith("'"):
            for k2, v2 in _PAIR.findall(v.strip("'")):
                raw.setdefault(k2, value(k2, v2))
            continue
        raw[k] = value(k, v)
    interp = {k: v.strip('"') for k, v in _PAIR.findall(enriched)}
    return raw, interp


def serial_of(text: str) -> str | None:
    m = _SERIAL.search(text[:512])
    return m.group(1) if m else None


def group(records: Iterable[RawRecord | Reject]) -> list[RawRecord | Reject]:
    """Consecutive records of one stream with the same audit serial, joined (newline-separated) into one."""
    out: list[RawRecord | Reject] = []
    key: tuple[str, str] | None = None
    joined = 0
    for rec in records:
        text = rec.text if isinstance(rec, RawRecord) else None
        serial = serial_of(text) if text and text.find("audit(", 0, 512) >= 0 else None
        prev = out[-1] if out else None
        if text and serial is not None and key == (rec.source, serial) and joined < MAX_RECORDS \
                and isinstance(prev, RawRecord):
            # the record after the first is kept from 'type=' on: a syslog header is the first record's
            at = text.find("type=")
            out[-1] = RawRecord(text=prev.text + "\n" + (text[at:] if at >= 0 else text), source=prev.source,
                                position=prev.position, offset=prev.offset, format=prev.format, meta=prev.meta)
            joined += 1
            continue
        key = (rec.source, serial) if serial is not None else None
        joined = 1
        out.append(rec)
    return out


def parse_auditd(text: str, st: ParseState) -> Event:
    """One event from the records (one per line) of one audit serial."""
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "auditd", "event.module": "auditd"}
    apply_records(text, ev)
    return ev


def apply_records(text: str, ev: Event) -> None:
    """Fill ``ev`` from audit records (one per line); raises ParseError when none is one."""
    records: list[tuple[str, dict[str, str], dict[str, str]]] = []
    head = None
    for line in text.split("\n")[:MAX_RECORDS]:
        m = RECORD.search(line)
        if m is None:
            continue
        head = head or m
        rtype = m.group("type")
        rtype = _NUMBERED.get(rtype, rtype) if rtype.isdigit() else rtype.upper()
        raw, interp = fields(m.group("body"), rtype)
        records.append((rtype, raw, interp))
    if head is None:
        raise ParseError("not an audit record: no 'type=... msg=audit(SECONDS:SERIAL):'")
    ev["@timestamp"] = int(head.group("sec")) * 1_000_000 + int(head.group("ms").ljust(6, "0")[:6])
    ev["auditd.sequence"] = int(head.group("serial"))
    if head.group("node"):
        ev["host.name"] = head.group("node")
    types = [t for t, _, _ in records if t != "EOE"] or ["EOE"]
    ev["auditd.type"] = types if len(types) > 1 else types[0]
    flat: dict[str, Any] = {}
    names: list[str] = []
    args: list[str] = []
    for rtype, raw, interp in records:
        for k, v in raw.items():
            if rtype == "EXECVE" and k.startswith("a") and k[1:].split("[")[0].isdigit():
                continue  # EXECVE arguments below, in order, over SYSCALL's raw a0..a3
            if rtype == "PATH" and k == "name":
                names.append(v)
                continue
            flat.setdefault(k, v)
        for k, v in interp.items():
            flat.setdefault(k, v)  # ENRICHED: SYSCALL=openat, AUID="alice"...
        if rtype == "EXECVE":
            args = _execve_args(raw)
    if args:
        for k in [k for k in flat if k[:1] == "a" and k[1:].isdigit()]:
            del flat[k]  # SYSCALL's raw registers: the EXECVE arguments are what a0.. mean here
        for i, a in enumerate(args[:MAX_ARGS]):
            flat[f"a{i}"] = a
        ev["process.args"] = args[:MAX_ARGS]
        ev["process.args_count"] = len(args)
        ev["process.command_line"] = " ".join(args)[:32768]
    if names:
        flat["name"] = names if len(names) > 1 else names[0]
        ev["file.path"] = names[-1]
    if "SYSCALL" not in flat and (name := syscall_name(flat.get("arch"), flat.get("syscall"))):
        flat["SYSCALL"] = name
    for k, v in flat.items():
        ev["auditd." + k] = v
    _ecs(ev, flat, types)


def _execve_args(raw: dict[str, str]) -> list[str]:
    """EXECVE's a0..aN, joining the a1[0], a1[1]... pieces auditd splits long arguments into."""
    n = to_int(raw.get("argc")) or 0
    out = []
    for i in range(min(max(n, 0), MAX_ARGS) if n else MAX_ARGS):
        whole = raw.get(f"a{i}")
        if whole is None:
            parts = [raw[k] for j in range(1000) if (k := f"a{i}[{j}]") in raw]
            if not parts:
                break
            whole = "".join(parts)
        out.append(whole)
    return out


def _ecs(ev: Event, f: dict[str, Any], types: list[str]) -> None:
    kind = next((_KIND[t] for t in types if t in _KIND and t != "PATH"), None) or \
        (("process", "start") if f.get("SYSCALL") in ("execve", "execveat") else None) or \
        next((_KIND[t] for t in types if t in _KIND), None)
    lead = next((t for t in types if t not in ("PATH", "CWD", "PROCTITLE", "EOE", "SOCKADDR", "EXECVE")), types[0])
    ev["event.action"] = (f"syscall-{f['SYSCALL']}" if lead == "SYSCALL" and f.get("SYSCALL") else lead.lower())
    if kind:
        ev["event.category"], ev["event.type"] = kind
    res = str(f.get("res") or f.get("success") or "").lower()
    if res in ("success", "yes", "1"):
        ev["event.outcome"] = "success"
    elif res in ("failed", "no", "0", "failure"):
        ev["event.outcome"] = "failure"
    for key, target in (("pid", "process.pid"), ("ppid", "process.parent.pid")):
        if (n := to_int(f.get(key))) is not None:
            ev[target] = n
    for key, target in (("exe", "process.executable"), ("comm", "process.name"), ("cwd", "process.working_directory"),
                        ("proctitle", "process.title"), ("uid", "user.id"), ("euid", "user.effective.id"),
                        ("auid", "user.audit.id"), ("gid", "group.id"), ("key", "auditd.rule_key"),
                        ("terminal", "auditd.terminal"), ("unit", "service.name")):
        v = f.get(key)
        if v not in (None, "", "?", "(null)", "(none)", "4294967295"):
            ev[target] = v
    if f.get("UID") and f.get("UID") != "unset":
        ev["user.name"] = f["UID"]
    if f.get("AUID") and f.get("AUID") != "unset":
        ev["user.audit.name"] = f["AUID"]
    acct = f.get("acct")
    if acct and acct not in ("?", "(unknown)"):
        ev["user.name"] = acct  # PAM records: the account named, not the process's uid
        if any(t in ("ADD_USER", "DEL_USER", "USER_MGMT", "USER_CHAUTHTOK") for t in types):
            ev["user.target.name"] = acct
    if f.get("cmd"):  # USER_CMD (sudo): the command run
        ev["process.command_line"] = f["cmd"]
    ip = clean_ip(f.get("addr"))
    if ip:
        ev["source.ip"] = ip
    host = f.get("hostname")
    if host and host not in ("?", ip) and not clean_ip(host):
        ev["source.domain"] = host
    if "saddr" in f:
        _sockaddr(ev, f["saddr"])
    if f.get("SYSCALL") and "SYSCALL" in types:
        ev["auditd.syscall"] = f["SYSCALL"]


def _sockaddr(ev: Event, saddr: str) -> None:
    """SOCKADDR's hex sockaddr: AF_INET (02) and AF_INET6 (0A) give the remote address and port."""
    if not _HEX.fullmatch(saddr.upper()) or len(saddr) < 16:
        return
    b = bytes.fromhex(saddr)
    family = int.from_bytes(b[:2], "little")
    if family == 2 and len(b) >= 8:
        ev["destination.ip"] = ".".join(str(x) for x in b[4:8])
        ev["destination.port"] = int.from_bytes(b[2:4], "big")
    elif family == 10 and len(b) >= 24:
        import ipaddress

        ev["destination.ip"] = str(ipaddress.IPv6Address(b[8:24]))
        ev["destination.port"] = int.from_bytes(b[2:4], "big")
