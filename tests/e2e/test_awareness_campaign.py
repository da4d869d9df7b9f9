"""Issue 20 end to end with real parts: a simulation to 200 staff is sent through a local SMTP server (aiosmtpd), the
test reads each link from the delivered messages; every message is pre-clicked by mail filters' link scanners
(their real request patterns, through a trusted proxy's X-Forwarded-For); people click, move and submit (some in
Chromium); 30 report it to the reporting mailbox on dovecot, read by ``garrison serve``; training is assigned to
those who fell for it, emailed, and completed (one in Chromium); results per department in the console and the
committee report; and the password typed on the landing page is nowhere in the data directory.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import os
import re
import signal
import ssl
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from garrison.store import open_state
from garrison.testing import dovecot
from garrison.web.auth import add_user
from tests.conftest import needs
from tests.e2e.test_serve_durability import _free_port, _garrison, _start, _wait_http
from tests.respond.test_notify_and_exports import _Mailbox
from tests.web.test_console_browser import CHROMIUM, PW, _browser_page

SECRET = "Hunter2-Do-Not-Keep!"
DEPTS = ["Finance", "Planning", "Housing", "Social Care", "Waste"]
EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0"
pytestmark = needs(not Path(CHROMIUM).exists(), "Debian's chromium (make test-deps installs it)")


def _json(cfg, *args):
    text = _garrison(cfg, *args, "--json", env=os.environ).stdout.strip()
    return [json.loads(x) for x in text.splitlines() if x]


def _report(box: dovecot.Dovecot, raw: bytes, reporter: str) -> None:
    from email.message import EmailMessage

    r = EmailMessage()
    r["From"], r["To"], r["Subject"] = reporter, "phishing@council.example", "FW: suspicious"
    r.set_content("Looks like phishing to me.")
    r.add_attachment(email.message_from_bytes(raw, policy=email.policy.default))
    c = imaplib.IMAP4_SSL("127.0.0.1", box.port, ssl_context=ssl.create_default_context(cafile=str(box.ca_file)))
    try:
        c.login("phishing", "pw")
        c.append("INBOX", None, None, r.as_bytes())
    finally:
        c.logout()


@pytest.fixture
def world(tmp_path):
    box = dovecot.start({"phishing": "pw"})
    sink = _Mailbox()
    port = _free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    yield box, sink, port
    smtp.stop()
    box.stop()


def test_campaign_to_200_staff(tmp_path, world):
    box, sink, smtp_port = world
    http = _free_port()
    staff = [(f"user{i:03d}@council.example", f"Person {i:03d}", DEPTS[i % 5]) for i in range(200)]
    (tmp_path / "staff.csv").write_text("email,name,department\n" + "".join(f"{e},{n},{d}\n" for e, n, d in staff))
    (tmp_path / "imap-pw").write_text("pw")
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None},
        "service": {"scheduler_seconds": 1}, "web": {"secure_cookies": False},
        "reporting": {"host": "127.0.0.1", "port": box.port, "ca_file": str(box.ca_file), "username": "phishing",
                      "password_file": str(tmp_path / "imap-pw"), "poll_seconds": 0.5},
        "awareness": {"base_url": f"http://127.0.0.1:{http}", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
                      "from_domain": "notices.example", "organisation": "Northshire Council", "trusted_proxies": ["127.0.0.1"]}}))
    add_user(open_state(tmp_path / "data"), "alice", PW, "analyst")
    assert _json(cfg, "campaigns", "create", "march-invoice", "--template", "invoice", "--targets", str(tmp_path / "staff.csv"))[0]["targets"] == 200
    proc = _start(cfg, tmp_path / "serve.log")
    try:
        _wait_http(http, timeout=60)
        assert _json(cfg, "campaigns", "send", "march-invoice", "--now")[0]["sent"] == 200
        sent_at = time.time()
        msgs = {rcpt[0]: email.message_from_string(body, policy=email.policy.default) for _, rcpt, body in sink.messages}
        assert len(msgs) == 200
        links = {to: re.search(r"http://\S+/t/c/[\w-]+\?l=1", m.get_body(("plain",)).get_content()).group(0) for to, m in msgs.items()}
        web = httpx.Client(timeout=10)

        # every message is pre-clicked by a filter at delivery; a quarter also by a second one
        for i, (_to, link) in enumerate(sorted(links.items())):
            web.get(link, headers={"X-Forwarded-For": f"40.107.{i % 250}.{i % 200 + 1}", "User-Agent": EDGE})
            if i % 4 == 0:
                web.head(link, headers={"X-Forwarded-For": f"195.130.217.{i % 200 + 1}", "User-Agent": EDGE})
        time.sleep(max(0.0, 16 - (time.time() - sent_at)))  # people read before they click

        people = sorted(links)[:40]
        for i, to in enumerate(people):  # a person: click, then the page's script reports a move
            h = {"X-Forwarded-For": f"10.20.{i}.{i + 1}", "User-Agent": EDGE}
            web.get(links[to], headers=h)
            token = links[to].rsplit("/", 1)[1].split("?")[0]
            assert web.get(f"http://127.0.0.1:{http}/t/o/{token}.gif", headers=h).headers["content-type"] == "image/gif"
            assert web.post(f"http://127.0.0.1:{http}/t/b/{token}", headers=h).status_code == 204
            if i < 10:  # ten also submit, as a browser would post even if it sent the typed fields
                r = web.post(f"http://127.0.0.1:{http}/t/s/{token}?js=1", headers=h, data={"password": SECRET, "email": to})
                assert "This was a phishing test" in r.text
        # two more people, in a real browser (headless Chromium says so in its user agent; a person's does not)
        with _browser_page(f"http://127.0.0.1:{http}", user_agent=EDGE) as pg:
            for to in sorted(links)[40:42]:
                pg.goto(links[to])
                pg.mouse.move(200, 200)
                pg.mouse.move(300, 260)
                pg.fill("#u", to)
                pg.fill("#p", SECRET)
                pg.click("button[type=submit]")
                pg.wait_for_selector("text=This was a phishing test")

        reporters = sorted(links)[100:130]
        for to in reporters:
            _report(box, msgs[to].as_bytes(), to)
        deadline = time.time() + 90
        r = {}
        while time.time() < deadline:
            r = _json(cfg, "campaigns", "results", "march-invoice")[0]
            if r["reported"] == 15.0:
                break
            time.sleep(1)
        assert r["delivered"] == 200 and r["reported"] == 15.0, r
        assert r["clicked_with_scanners"] == 100.0  # what a tool that counts every click would say
        assert r["clicked"] == 21.0 and r["submitted"] == 6.0  # 42 people clicked, 12 submitted: scanners not counted
        assert r["first_report_minutes"] is not None and r["scanner_visits"] >= 250
        assert {d["department"] for d in r["departments"]} == set(DEPTS) and all(d["delivered"] == 40 for d in r["departments"])
        (listed,) = _json(cfg, "campaigns", "list")
        assert listed["name"] == "march-invoice" and listed["sent"] == 200 and listed["status"] == "done"

        # training: assigned to the 42 who clicked, emailed with their links; one completed in Chromium, ten by form
        deadline = time.time() + 60
        while time.time() < deadline and sum(1 for _, rcpt, b in sink.messages if "/training/" in b) < 42:
            time.sleep(0.5)
        training_links = {rcpt[0]: re.search(r"http://\S+/training/[\w-]+", b).group(0)
                          for _, rcpt, b in sink.messages if "/training/" in b}
        assert sorted(training_links) == sorted(people + sorted(links)[40:42])
        with _browser_page(f"http://127.0.0.1:{http}", user_agent=EDGE) as pg:
            pg.goto(training_links[people[0]])
            for q, right in enumerate([1, 1, 0]):
                pg.check(f"input[name=q{q}][value='{right}']")
            pg.click("button[type=submit]")
            assert "this module is complete" in pg.inner_text("#result")
        for to in people[1:11]:
            ok = web.post(training_links[to], data={"q0": "1", "q1": "1", "q2": "0"})
            assert "module is complete" in ok.text
        assert web.post(training_links[people[11]], data={"q0": "0", "q1": "0", "q2": "1"}).text.count("retry") == 1
        status = _json(cfg, "training", "status")
        assert sum(s["assigned"] for s in status) == 42 and sum(s["completed"] for s in status) == 11

        with httpx.Client(base_url=f"http://127.0.0.1:{http}", headers={"Origin": f"http://127.0.0.1:{http}"}) as console:
            console.post("/console/login", data={"username": "alice", "password": PW})
            page = console.get("/console/awareness").text
            assert "march-invoice" in page and all(d in page for d in DEPTS) and "link scanners were recognised" in page
        report = tmp_path / "report.md"
        _garrison(cfg, "report", "--period", "30d", "--format", "md", "--out", str(report), env=os.environ)
        text = report.read_text()
        assert "of staff clicked a test phishing email and 15% reported it" in text
        assert "## Staff and test phishing emails" in text and all(f"| {d} | 40 |" in text for d in DEPTS)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    found = [p for p in (tmp_path / "data").rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not found, f"the submitted password was kept in {found}"
    assert Counter(x["label"] for x in _events(tmp_path))["scanner"] >= 250


def _events(tmp_path):
    engine = open_state(tmp_path / "data")
    with engine.connect() as c:
        return [dict(r) for r in c.exec_driver_sql("SELECT label FROM aw_events").mappings()]
