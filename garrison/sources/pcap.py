"""Packet captures, read through Wireshark's ``tshark`` into the records Zeek would have logged.

A council rarely keeps packets, but an incident responder, a sensor's ring buffer or a public attack
recording hands over a .pcap, and what matters in one for Windows attacks is who called which remote
procedure on which machine: DCE/RPC (svcctl, drsuapi, samr, srvsvc, lsarpc, netlogon, the task scheduler,
DCOM and WMI), SMB file opens, Kerberos, LDAP and HTTP. tshark's dissectors name each interface and
operation; this module only reshapes its rows into Zeek's dce_rpc, smb_files, kerberos, ldap, ldap_search
and http records (``format="zeek"``), so the Zeek parser, the Sigma routing for ``product: zeek`` and the
rules written for Zeek apply unchanged. Encrypted RPC (packet privacy) shows its interface but not its
operation; that is what Zeek would see too.

Bounds: one capture at a time, tshark stopped after ``TIMEOUT`` seconds, rows longer than ``MAX_ROW`` kept
as rejects. tshark missing is one clear reject for the file, not a crash.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson

from garrison.model import RawRecord, Reject

SUFFIXES = (".pcap", ".cap", ".pcapng")
MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
TIMEOUT = 600
MAX_ROW = 64 * 1024
MAX_CAPTURE = 2 * 1024 ** 3  # a capture copied out of an archive

FIELDS = ("frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "udp.srcport", "ip.dst", "ipv6.dst",
          "tcp.dstport", "udp.dstport", "_ws.col.Protocol", "_ws.col.Info", "dcerpc.pkt_type", "smb2.cmd",
          "smb2.flags.response", "smb2.filename", "smb2.tree", "kerberos.msg_type", "kerberos.CNameString",
          "kerberos.SNameString", "kerberos.realm", "kerberos.etype", "kerberos.error_code", "ldap.protocolOp",
          "ldap.baseObject", "ldap.assertionValue", "ldap.type", "ldap.objectName", "http.request.method",
          "http.host", "http.request.uri", "http.user_agent")
FILTER = ("dcerpc.pkt_type == 0 or dcerpc.pkt_type == 11 or dcerpc.pkt_type == 14 or "
          "(smb2.cmd == 5 and smb2.flags.response == 0) or kerberos.msg_type or ldap.protocolOp == 0 or "
          "ldap.protocolOp == 3 or ldap.protocolOp == 6 or http.request")

# tshark's protocol names for RPC interfaces, as Zeek's dce_rpc log names them.
ENDPOINTS = {"rpc_netlogon": "netlogon", "taskschedulerservice": "ITaskSchedulerService",
             "isystemactivator": "ISystemActivator", "iremunknown2": "IRemUnknown2", "idispatch": "IDispatch",
             "iwbemservices": "IWbemServices", "iwbemlevel1login": "IWbemLevel1Login", "itypeinfo": "ITypeInfo",
             "iremotescmactivator": "IRemoteSCMActivator"}
ETYPES = {"23": "rc4-hmac", "24": "rc4-hmac-exp", "17": "aes128-cts-hmac-sha1-96", "18": "aes256-cts-hmac-sha1-96",
          "3": "des-cbc-md5", "1": "des-cbc-crc"}
KRB_TYPES = {"10": "AS", "11": "AS", "12": "TGS", "13": "TGS", "30": "ERROR"}
_OPERATION = re.compile(r"^(.*?) (?:request|response)\b")
_CONTEXT = re.compile(r"context items?: (\w+) V\d")


def is_capture(name: str, head: bytes = b"") -> bool:
    return name.lower().endswith(SUFFIXES) or head[:4] in MAGIC


def _first(v: str) -> str:
    return v.split("|", 1)[0]


def _record(row: dict[str, str]) -> dict[str, object] | None:
    """One tshark row as the Zeek record it corresponds to, or None for rows that say nothing useful."""
    src = row["ip.src"] or row["ipv6.src"]
    dst = row["ip.dst"] or row["ipv6.dst"]
    base: dict[str, object] = {"ts": float(_first(row["frame.time_epoch"]) or 0), "id.orig_h": _first(src),
                               "id.orig_p": int(_first(row["tcp.srcport"] or row["udp.srcport"]) or 0),
                               "id.resp_h": _first(dst),
                               "id.resp_p": int(_first(row["tcp.dstport"] or row["udp.dstport"]) or 0)}
    proto, info = row["_ws.col.Protocol"], row["_ws.col.Info"]
    if row["dcerpc.pkt_type"]:
        pkt = _first(row["dcerpc.pkt_type"])
        if pkt in ("11", "14"):  # bind, alter context: the interface, even when the calls are encrypted
            m = _CONTEXT.search(info)
            if not m:
                return None
            return {**base, "_path": "dce_rpc", "endpoint": ENDPOINTS.get(m.group(1).lower(), m.group(1).lower()),
                    "operation": "bind"}
        m = _OPERATION.match(info)
        if proto.upper() in ("DCERPC", "EPM") or not m:
            return None
        op = m.group(1).replace("Unknown operation ", "opnum ")
        return {**base, "_path": "dce_rpc", "endpoint": ENDPOINTS.get(proto.lower(), proto.lower()), "operation": op,
                "named_pipe": row["smb2.filename"] or None}
    if row["smb2.cmd"]:
        name = _first(row["smb2.filename"])
        if not name:
            return None
        return {**base, "_path": "smb_files", "action": "SMB::FILE_OPEN", "path": _first(row["smb2.tree"]) or None,
                "name": name}
    if row["kerberos.msg_type"]:
        kind = KRB_TYPES.get(_first(row["kerberos.msg_type"]))
        if kind is None:
            return None
        client = _first(row["kerberos.CNameString"])
        realm = _first(row["kerberos.realm"])
        etypes = row["kerberos.etype"].split("|") if row["kerberos.etype"] else []
        rec = {**base, "_path": "kerberos", "request_type": kind, "client": f"{client}/{realm}" if client else None,
               "service": "/".join(row["kerberos.SNameString"].split("|")[:2]) or None}
        msg = _first(row["kerberos.msg_type"])
        if msg in ("11", "13"):  # the reply's ticket: the cipher actually used
            rec["cipher"] = ETYPES.get(etypes[-1], etypes[-1]) if etypes else None
            rec["success"] = True
        elif msg == "30":
            rec["success"] = False
            rec["error_code"] = _first(row["kerberos.error_code"])
        else:
            rec["requested_ciphers"] = [ETYPES.get(e, e) for e in etypes]
        return rec
    if row["ldap.protocolOp"]:
        op = _first(row["ldap.protocolOp"])
        if op == "3":
            return {**base, "_path": "ldap_search", "base_object": _first(row["ldap.baseObject"]),
                    "filter": " ".join(row["ldap.assertionValue"].split("|")) or None}
        return {**base, "_path": "ldap", "opcode": "modify" if op == "6" else "bind",
                "object": _first(row["ldap.objectName"]) or None,
                "argument": " ".join(row["ldap.type"].split("|")) or None}
    if row["http.request.method"]:
        return {**base, "_path": "http", "method": _first(row["http.request.method"]),
                "host": _first(row["http.host"]) or None, "uri": _first(row["http.request.uri"]),
                "user_agent": _first(row["http.user_agent"]) or None}
    return None


def read_capture(path: Path, source: str) -> Iterator[RawRecord | Reject]:
    """The Zeek-shaped records of one capture file."""
    exe = shutil.which("tshark")
    if exe is None:
        yield Reject(source, "packet capture not read: tshark is not installed (apt-get install tshark)", "", None,
                     None, "pcap")
        return
    args = [exe, "-r", str(path), "-n", "-Y", FILTER, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=|", "-E", "quote=n"]
    for f in FIELDS:
        args += ["-e", f]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        timer = threading.Timer(TIMEOUT, proc.kill)  # a capture that never ends must not hold the import
        timer.start()
        try:
            for n, raw in enumerate(proc.stdout, 1):
                if len(raw) > MAX_ROW:
                    yield Reject(source, f"tshark row {n} longer than {MAX_ROW:,} bytes", "", n, None, "pcap")
                    continue
                values = raw.decode("utf-8", "replace").rstrip("\n").split("\t")
                if len(values) != len(FIELDS):
                    yield Reject(source, f"tshark row {n} has {len(values)} fields, not {len(FIELDS)}",
                                 raw[:500].decode("utf-8", "replace"), n, None, "pcap")
                    continue
                try:
                    rec = _record(dict(zip(FIELDS, values)))
                except ValueError as e:
                    yield Reject(source, f"packet row {n}: {e}", raw[:500].decode("utf-8", "replace"), n, None, "pcap")
                    continue
                if rec is not None:
                    yield RawRecord(text=orjson.dumps({k: v for k, v in rec.items() if v is not None}).decode(),
                                    source=source, position=n, format="zeek")
            proc.wait()
        finally:
            timer.cancel()
        err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
        if proc.returncode == -9:
            yield Reject(source, f"tshark did not finish within {TIMEOUT} s; the rest is not read", "", None, None,
                         "pcap")
        elif proc.returncode:
            yield Reject(source, f"tshark stopped ({proc.returncode}): {err[-300:]}", "", None, None, "pcap")


def read_capture_member(chunks: Iterator[bytes], member: str) -> Iterator[RawRecord | Reject]:
    """A capture inside an archive: tshark needs a file, so it is copied (bounded) into a private temp folder."""
    with tempfile.TemporaryDirectory(prefix="garrison-pcap-") as d:
        tmp = Path(d) / "member.pcap"
        total = 0
        with open(tmp, "wb") as out:
            for c in chunks:
                total += len(c)
                if total > MAX_CAPTURE:
                    yield Reject(member, f"capture larger than {MAX_CAPTURE:,} bytes; not read", "", None, None, "pcap")
                    return
                out.write(c)
        yield from read_capture(tmp, member)
