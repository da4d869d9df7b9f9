"""Writers for each simulated source, in the exact formats the real products write.

Every row is kept with its time and the attack it belongs to (None for benign activity), so that the
ground truth can name each attack's lines after the files are sorted by time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zlib

import orjson

from garrison.simulate.org import OFFICE_PUBLIC, bsd, clf, iso

# file name -> the --format Garrison reads it with
FILES = {
    "auth.log": "syslog", "firewall.log": "syslog", "access.log": "access", "windows.json": "nxlog",
    "entra-signin.json": "entra_signin", "m365-audit.json": "m365", "zeek-conn.json": "zeek",
}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


@dataclass
class Logs:
    rows: dict[str, list[tuple[int, str, str | None]]] = field(default_factory=lambda: defaultdict(list))
    attack: str | None = None  # rows added now belong to this attack
    spans: dict[str, list[int]] = field(default_factory=dict)  # attack -> [first, last] time
    day: tuple[int, int] | None = None  # [start, end) in us: a day's files hold that day only, as rotated logs do

    def add(self, name: str, t: int, line: str) -> None:
        if self.day is not None and not self.day[0] <= t < self.day[1]:
            return
        self.rows[name].append((t, line, self.attack))
        if self.attack is not None:
            span = self.spans.setdefault(self.attack, [t, t])
            span[0], span[1] = min(span[0], t), max(span[1], t)

    def _json(self, name: str, t: int, obj: dict[str, Any]) -> None:
        self.add(name, t, orjson.dumps(obj).decode())

    # -- Linux and network devices (syslog) ---------------------------------------
    def sshd(self, t: int, host: str, pid: int, msg: str) -> None:
        self.add("auth.log", t, f"{bsd(t)} {host} sshd[{pid}]: {msg}")

    def firewall(self, t: int, src: str, dst: str, spt: int, dpt: int, proto: str = "TCP", verdict: str = "BLOCK") -> None:
        flags = " SYN URGP=0" if proto == "TCP" else ""
        self.add("firewall.log", t, f"{bsd(t)} fw01 kernel: [UFW {verdict}] IN=eth0 OUT= MAC=00:16:3e:5a:01:02 SRC={src} "
                                    f"DST={dst} LEN=44 TOS=0x00 PREC=0x00 TTL=241 ID=54321 PROTO={proto} "
                                    f"SPT={spt} DPT={dpt}{' WINDOW=1024 RES=0x00' if proto == 'TCP' else ' LEN=24'}{flags}")

    def access(self, t: int, ip: str, method: str, path: str, status: int, size: int, agent: str = BROWSER,
               referer: str = "-") -> None:
        self.add("access.log", t, f'{ip} - - [{clf(t)}] "{method} {path} HTTP/1.1" {status} {size} "{referer}" "{agent}"')

    def conn(self, t: int, src: str, sport: int, dst: str, dport: int, state: str = "SF", service: str | None = None,
             proto: str = "tcp", duration: float = 0.02, orig_bytes: int = 0, resp_bytes: int = 0) -> None:
        obj: dict[str, Any] = {"_path": "conn", "ts": t / 1e6, "uid": f"C{t % 10**12:x}{sport:x}", "id.orig_h": src,
                               "id.orig_p": sport, "id.resp_h": dst, "id.resp_p": dport, "proto": proto,
                               "duration": duration, "orig_bytes": orig_bytes, "resp_bytes": resp_bytes,
                               "conn_state": state, "local_orig": src.startswith("10."), "local_resp": dst.startswith("10.")}
        if service:
            obj["service"] = service
        self._json("zeek-conn.json", t, obj)

    # -- Windows (NXLog JSON, as OTRF and many councils ship it) -------------------
    def windows(self, t: int, host: str, event_id: int, channel: str, provider: str, **data: Any) -> None:
        self._json("windows.json", t, {"@timestamp": iso(t), "EventTime": iso(t)[:19].replace("T", " "), "Hostname": host,
                                       "EventID": event_id, "Channel": channel, "SourceName": provider, **data})

    def logon(self, t: int, dc: str, user: str, ip: str, ok: bool, logon_type: int = 3, workstation: str = "-",
              status: str = "0xc000006d") -> None:
        data: dict[str, Any] = {"TargetUserName": user, "TargetDomainName": "COUNCIL", "LogonType": str(logon_type),
                                "IpAddress": ip, "IpPort": "0", "WorkstationName": workstation,
                                "AuthenticationPackageName": "NTLM" if logon_type == 3 else "Negotiate"}
        if not ok:
            data.update(Status=status, SubStatus="0xc000006a", FailureReason="%%2313")
        self.windows(t, dc, 4624 if ok else 4625, "Security", "Microsoft-Windows-Security-Auditing", **data)

    def process(self, t: int, host: str, user: str, image: str, command_line: str, parent: str, parent_cmd: str,
                pid: int) -> None:
        self.windows(t, host, 1, "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon",
                     UtcTime=iso(t)[:23].replace("T", " "), ProcessId=str(pid), Image=image, CommandLine=command_line,
                     CurrentDirectory="C:\\Windows\\system32\\", User=f"COUNCIL\\{user}", IntegrityLevel="Medium",
                     ParentImage=parent, ParentCommandLine=parent_cmd, OriginalFileName=image.rsplit("\\", 1)[-1].upper(),
                     Hashes="SHA256=" + f"{zlib.crc32(image.encode()):08X}" * 8)

    # -- Microsoft cloud -----------------------------------------------------------
    def signin(self, t: int, upn: str, ip: str, country: str, error: int = 0, app: str = "Office 365 Exchange Online",
               client: str = "Browser", reason: str = "", mfa: str | None = None, city: str = "") -> None:
        status: dict[str, Any] = {"errorCode": error}
        if error:
            status["failureReason"] = reason or "Invalid username or password or Invalid on-premise username or password."
        props: dict[str, Any] = {"id": f"{t:x}-{zlib.crc32(upn.encode()):08x}", "createdDateTime": iso(t), "userPrincipalName": upn,
                                 "userDisplayName": upn.split("@")[0].replace(".", " ").title(), "ipAddress": ip,
                                 "appDisplayName": app, "clientAppUsed": client, "status": status,
                                 "location": {"countryOrRegion": country, "city": city},
                                 "conditionalAccessStatus": "success" if not error else "notApplied"}
        if mfa is not None:
            props["authenticationDetails"] = [{"authenticationMethod": "Mobile app notification",
                                               "succeeded": mfa == "approved", "authenticationStepResultDetail":
                                               "MFA successfully completed" if mfa == "approved" else "MFA denied; user declined the authentication"}]
        self._json("entra-signin.json", t, {"time": iso(t), "resourceId": "/tenants/council/providers/Microsoft.aadiam",
                                            "operationName": "Sign-in activity", "category": "SignInLogs",
                                            "callerIpAddress": ip, "properties": props})

    def m365(self, t: int, operation: str, user: str, ip: str = OFFICE_PUBLIC, workload: str = "Exchange",
             **extra: Any) -> None:
        self._json("m365-audit.json", t, {"CreationTime": iso(t)[:19], "Id": f"{t:x}", "Operation": operation,
                                          "OrganizationId": "council", "RecordType": 1, "ResultStatus": "True",
                                          "UserType": 0, "Workload": workload, "ClientIP": ip,
                                          "UserId": user, **extra})

    # -- output --------------------------------------------------------------------
    def write(self, out: Path) -> dict[str, dict[str, list[int]]]:
        """Write every file sorted by time; returns {attack: {file: [line numbers (1-based)]}}."""
        out.mkdir(parents=True, exist_ok=True)
        where: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for name, rows in self.rows.items():
            rows.sort(key=lambda r: r[0])
            with open(out / name, "w", encoding="utf-8") as f:
                for n, (_, line, attack) in enumerate(rows, 1):
                    f.write(line)
                    f.write("\n")
                    if attack is not None:
                        where[attack][name].append(n)
        return where
