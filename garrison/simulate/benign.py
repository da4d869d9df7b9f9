"""A working day of an organisation's normal activity, from every source type.

Staff log on to their workstations and the file server, run Office and a browser, sign in to
Microsoft 365 from the office or from home, read mail and files; residents use the council's website;
administrators reach the bastion host over SSH. A few people mistype their password.
"""

from __future__ import annotations

import random

from garrison.simulate.logs import Logs
from garrison.simulate.org import OFFICE_PUBLIC, Org

H = 3_600_000_000
PAGES = ["/", "/council-tax", "/council-tax/pay", "/bins/collection-days", "/planning/search", "/planning/applications",
         "/libraries", "/libraries/opening-times", "/contact", "/news", "/parking/permits", "/jobs", "/schools/admissions",
         "/births-deaths-marriages", "/roads/report-a-pothole", "/static/site.css", "/static/app.js", "/static/logo.svg",
         "/search?q=bin+collection", "/search?q=council+tax+band", "/my-account"]
RESIDENT_AGENTS = ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
                   "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/129.0 Mobile Safari/537.36",
                   "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/17.6 Safari/605.1.15",
                   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36 Edg/130.0"]
APPS = [("C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", '"OUTLOOK.EXE" /recycle'),
        ("C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", '"WINWORD.EXE" /n "\\\\fs01\\shared\\{d}.docx"'),
        ("C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", '"EXCEL.EXE" "\\\\fs01\\shared\\{d}.xlsx"'),
        ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", '"chrome.exe" --profile-directory=Default'),
        ("C:\\Users\\{u}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe", '"Teams.exe" --process-start-time'),
        ("C:\\Windows\\System32\\notepad.exe", '"notepad.exe" C:\\Users\\{u}\\Documents\\notes.txt')]
EXPLORER = "C:\\Windows\\explorer.exe"


def work_time(rng: random.Random, day0: int) -> int:
    """A moment in the working day: most between 08:00 and 18:00, some in the evening."""
    if rng.random() < 0.9:
        return day0 + int(rng.uniform(7.5, 18.0) * H)
    return day0 + int(rng.uniform(0, 24) * H)


def benign_day(logs: Logs, org: Org, rng: random.Random, day0: int, web_requests: int = 30000) -> None:
    dcs = [org.fqdn("dc01"), org.fqdn("dc02")]
    servers = {n: ip for n, ip, _ in org.servers}
    for p in org.people:
        if rng.random() < 0.12:  # leave, part time, sick
            continue
        t = day0 + int(rng.gauss(8.6, 0.6) * H)
        dc = rng.choice(dcs)
        if rng.random() < 0.03:  # a mistyped password, then the right one
            logs.logon(t - 20_000_000, dc, p.name, p.ws_ip, ok=False, logon_type=2, workstation=p.workstation)
        logs.logon(t, dc, p.name, p.ws_ip, ok=True, logon_type=2, workstation=p.workstation)
        logs.logon(t + 40_000_000, dc, p.name, p.ws_ip, ok=True, logon_type=3, workstation=p.workstation)
        logs.conn(t + 1_000_000, p.ws_ip, rng.randrange(49152, 65535), servers["dc01"], 88, service="krb", proto="tcp")
        logs.conn(t + 50_000_000, p.ws_ip, rng.randrange(49152, 65535), servers["fs01"], 445, service="smb",
                  duration=rng.uniform(1, 3000), orig_bytes=rng.randrange(500, 90000), resp_bytes=rng.randrange(1000, 900000))
        logs.conn(t + 70_000_000, p.ws_ip, rng.randrange(49152, 65535), servers["exch01"], 443, service="ssl",
                  duration=rng.uniform(1, 600), orig_bytes=rng.randrange(500, 9000), resp_bytes=rng.randrange(1000, 90000))
        for _ in range(rng.randrange(2, 5)):
            image, cmd = rng.choice(APPS)
            tp = work_time(rng, day0)
            doc = f"{p.department.split()[0].lower()}-{rng.randrange(1000)}"
            logs.process(tp, org.fqdn(p.workstation), p.name, image.format(u=p.name), cmd.format(d=doc, u=p.name),
                         EXPLORER, "C:\\Windows\\Explorer.EXE", rng.randrange(1000, 30000))
        home = rng.random() < 0.3
        ip, err = (p.home_ip, 0) if home else (OFFICE_PUBLIC, 0)
        for _ in range(rng.randrange(1, 3)):
            ts = work_time(rng, day0)
            if rng.random() < 0.01:
                logs.signin(ts - 30_000_000, p.upn, ip, "GB", error=50126, city="Exeter")
            logs.signin(ts, p.upn, ip, "GB", error=err, city="Exeter", mfa="approved" if home else None,
                        app=rng.choice(["Office 365 Exchange Online", "Microsoft Teams", "Office 365 SharePoint Online"]))
        if rng.random() < 0.1:
            logs.m365(work_time(rng, day0), "FileAccessed", p.upn, ip, workload="SharePoint",
                      ObjectId=f"https://council.sharepoint.com/sites/{p.department.split()[0].lower()}/doc{rng.randrange(99)}.docx")
        if rng.random() < 0.004:  # an ordinary rule that files newsletters away
            logs.m365(work_time(rng, day0), "New-InboxRule", p.upn, ip, Parameters=[
                {"Name": "Name", "Value": "Newsletters"}, {"Name": "From", "Value": "news@localpaper.example"},
                {"Name": "MoveToFolder", "Value": "Newsletters"}])
    for a in org.admins:  # administrators on the bastion host
        for _ in range(rng.randrange(2, 6)):
            t = work_time(rng, day0)
            logs.sshd(t, "bastion01", rng.randrange(2000, 60000),
                      f"Accepted publickey for {a.name} from {a.ws_ip} port {rng.randrange(49152, 65535)} ssh2: "
                      f"ED25519 SHA256:{rng.randrange(16**12):012x}")
    for _ in range(web_requests):  # residents on the website
        t = day0 + int(min(23.99, max(0.0, rng.gauss(13, 4))) * H)
        ip = f"{rng.choice([86, 92, 31, 90, 2, 51, 176])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        path = rng.choice(PAGES)
        status = 200 if rng.random() < 0.97 else rng.choice([304, 404])
        logs.access(t, ip, "GET", path, status, rng.randrange(300, 60000), rng.choice(RESIDENT_AGENTS),
                    "https://www.council.example/" if rng.random() < 0.5 else "-")
