"""Issue 21 end to end, every part real: staff forward a phish to the reporting mailbox on Debian's dovecot;
``garrison serve`` reads it over IMAPS, judges it phishing and raises one incident for the campaign; the campaign
is joined to the deliveries in the postfix log and the click in the proxy log; "block" reaches the decisions API
(a bouncer's query), "purge" deletes the message from every mailbox through the Microsoft Graph stand-in, and the
reporters get the answer email on a local SMTP server (aiosmtpd).
"""

from __future__ import annotations

import imaplib
import json
import os
import re
import signal
import ssl
import time
from email.message import EmailMessage

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from garrison.store import open_state
from garrison.web.auth import add_user
from garrison.testing import dovecot
from garrison.testing.microsoft import StandIn, serve
from tests.e2e.test_serve_durability import _free_port, _garrison, _start, _wait_http
from tests.respond.test_notify_and_exports import _Mailbox
from tests.web.test_console_pages import PW

MID = "<inv-2291.7731@paypa1-secure.example>"
SENDER = "billing@paypa1-secure.example"
STAFF = ["jo@northshire.gov.uk", "sam@northshire.gov.uk", "kim@northshire.gov.uk"]


def _phish() -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"PayPal Billing <{SENDER}>"
    m["To"] = ", ".join(STAFF)
    m["Subject"] = "Unpaid invoice 2291 - your account will be suspended"
    m["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    m["Message-ID"] = MID
    m["Received"] = "from mail.paypa1-secure.example (mail.paypa1-secure.example [203.0.113.9]) by mx1.northshire.gov.uk"
    m["Authentication-Results"] = "mx1.northshire.gov.uk; spf=fail smtp.mailfrom=paypa1-secure.example; dmarc=fail"
    m.set_content("Your account will be suspended within 24 hours. Verify your account: http://paypa1-secure.example/login")
    m.add_alternative('<p>Your account will be suspended within 24 hours.</p>'
                      '<a href="http://paypa1-secure.example/login">https://www.paypal.com/billing</a>', subtype="html")
    return m


def _report_as_attachment(reporter: str) -> bytes:
    r = EmailMessage()
    r["From"], r["To"], r["Subject"] = reporter, "phishing@northshire.gov.uk", "FW: Unpaid invoice 2291"
    r["Date"] = "Tue, 01 Dec 2026 09:20:00 +0000"
    r["Message-ID"] = f"<report-{reporter.split('@')[0]}@northshire.gov.uk>"
    r.set_content("This looks wrong to me.")
    r.add_attachment(_phish())
    return r.as_bytes()


def _report_inline(reporter: str) -> bytes:
    p = _phish()
    r = EmailMessage()
    r["From"], r["To"], r["Subject"] = reporter, "phishing@northshire.gov.uk", "Fwd: Unpaid invoice 2291"
    r["Date"] = "Tue, 01 Dec 2026 09:31:00 +0000"
    r.set_content(f"---------- Forwarded message ---------\nFrom: {p['From']}\nDate: {p['Date']}\nSubject: {p['Subject']}\n"
                  f"To: {reporter}\n\n{p.get_body(('plain',)).get_content()}")
    return r.as_bytes()


def _postfix_log() -> str:
    lines = ["Dec  1 09:00:01 mx1 postfix/smtpd[2211]: 4Bq2Xk1VzLz: client=mail.paypa1-secure.example[203.0.113.9]",
             "Dec  1 09:00:01 mx1 postfix/cleanup[2212]: 4Bq2Xk1VzLz: warning: header Subject: Unpaid invoice 2291 - your "
             "account will be suspended from mail.paypa1-secure.example[203.0.113.9]; from=<billing@paypa1-secure.example> "
             "to=<jo@northshire.gov.uk> proto=ESMTP helo=<mail.paypa1-secure.example>",
             f"Dec  1 09:00:01 mx1 postfix/cleanup[2212]: 4Bq2Xk1VzLz: message-id={MID}",
             f"Dec  1 09:00:01 mx1 postfix/qmgr[900]: 4Bq2Xk1VzLz: from=<{SENDER}>, size=4012, nrcpt=3 (queue active)"]
    lines += [f"Dec  1 09:00:02 mx1 postfix/lmtp[2213]: 4Bq2Xk1VzLz: to=<{s}>, relay=mail.local[private/dovecot-lmtp], "
              "delay=0.4, delays=0.1/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 ok)" for s in STAFF]
    lines += ["Dec  1 09:00:02 mx1 postfix/qmgr[900]: 4Bq2Xk1VzLz: removed",
              "Dec  1 09:05:00 mx1 postfix/qmgr[900]: 5Cr3Yl2WaMa: from=<minutes@northshire.gov.uk>, size=900, nrcpt=1 (queue active)",
              "Dec  1 09:05:00 mx1 postfix/lmtp[2213]: 5Cr3Yl2WaMa: to=<jo@northshire.gov.uk>, relay=mail.local[private/dovecot-lmtp], "
              "delay=0.1, delays=0.1/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 ok)"]
    return "\n".join(lines) + "\n"


def _append(box: dovecot.Dovecot, raw: bytes) -> None:
    c = imaplib.IMAP4_SSL("127.0.0.1", box.port, ssl_context=ssl.create_default_context(cafile=str(box.ca_file)))
    try:
        c.login("phishing", "report-pw")
        assert c.append("INBOX", None, None, raw)[0] == "OK"  # as the mail server delivers the report
    finally:
        c.logout()


def _json(cfg, *args):
    text = _garrison(cfg, *args, "--json", env=os.environ).stdout.strip()
    return json.loads(text) if text.startswith("{") and "\n" not in text else [json.loads(x) for x in text.splitlines() if x]


def _incidents(cfg):
    rows = _json(cfg, "incidents", "list")
    return [i for i in ([rows] if isinstance(rows, dict) else rows) if "paypa1-secure.example" in i["title"]]


@pytest.fixture
def world(tmp_path):
    box = dovecot.start({"phishing": "report-pw"})
    standin = StandIn()
    graph, ca = serve(standin, tmp_path / "tls")
    for s in STAFF:
        standin.add_message(s, MID, "Unpaid invoice 2291", SENDER)
        standin.add_message(s, f"<other-{s}@northshire.gov.uk>", "Minutes", "minutes@northshire.gov.uk")
    sink = _Mailbox()
    smtp_port = _free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    yield box, standin, ca, sink, smtp_port
    smtp.stop()
    graph.should_exit = True
    box.stop()


def test_reported_phish_end_to_end(tmp_path, world):
    box, standin, ca, sink, smtp_port = world
    http = _free_port()
    (tmp_path / "imap-pw").write_text("report-pw")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "mail.log").write_text(_postfix_log())
    t = 1796115600 + 600  # 09:10, after delivery
    (logs / "proxy.log").write_text(f"{t}.123    412 10.0.0.23 TCP_MISS/200 5120 GET http://paypa1-secure.example/login kim "
                                    "HIER_DIRECT/203.0.113.9 text/html\n")
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None},
        "enrich": {"own_domains": ["northshire.gov.uk"]},
        "reporting": {"host": "127.0.0.1", "port": box.port, "ca_file": str(box.ca_file), "username": "phishing",
                      "password_file": str(tmp_path / "imap-pw"), "poll_seconds": 0.5},
        "microsoft": {**standin.connector_config(tmp_path / "secret", ca), "actions": True, "content_types": [], "graph": []},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "mail_from": "security@northshire.gov.uk"},
        "web": {"secure_cookies": False}}))
    add_user(open_state(tmp_path / "data"), "alice", PW, "analyst")
    _garrison(cfg, "import", str(logs), env=os.environ)
    key = _garrison(cfg, "bouncers", "add", "mail-gateway", env=os.environ).stdout.strip().split()[-1]
    proc = _start(cfg, tmp_path / "serve.log")
    try:
        _wait_http(http, timeout=60)
        _append(box, _report_as_attachment(STAFF[0]))
        deadline = time.time() + 60
        incidents = []
        while time.time() < deadline and not incidents:
            incidents = _incidents(cfg)
            time.sleep(0.5)
        assert len(incidents) == 1, (tmp_path / "serve.log").read_text()[-3000:]
        iid = incidents[0]["id"]
        assert incidents[0]["severity"] == "high"
        listed = (tmp_path / "data" / "intel" / "reported-phish.csv").read_text()  # the report's indicators, with it as source
        assert "domain,paypa1-secure.example,reported phish <inv-2291" in listed and "url,http://paypa1-secure.example/login" in listed
        _append(box, _report_inline(STAFF[1]))  # a second report, forwarded inline, joins the same incident
        deadline = time.time() + 60
        while time.time() < deadline and len(_json(cfg, "incidents", "show", str(iid))["detections"]) < 2:
            time.sleep(0.5)
        assert len(_json(cfg, "incidents", "show", str(iid))["detections"]) == 2
        assert [i["id"] for i in _incidents(cfg)] == [iid]

        camp = _json(cfg, "mail", "campaign", str(iid))
        assert camp["verdict"] == "phishing" and any("imitates" in r for r in camp["reasons"])
        assert any(r.startswith("the sender's domain was first seen in our mail ") for r in camp["reasons"])
        assert sorted(camp["recipients"]) == sorted(STAFF)  # from the postfix log, not the message's To
        assert [(c["user"], c["source_ip"]) for c in camp["clicks"]] == [("kim", "10.0.0.23")]
        assert camp["reporters"] == sorted(STAFF[:2])
        assert camp["sender_domain_first_seen"] is not None

        with httpx.Client(base_url=f"http://127.0.0.1:{http}", headers={"Origin": f"http://127.0.0.1:{http}"}) as web:
            assert web.post("/console/login", data={"username": "alice", "password": PW}).status_code in (200, 303)
            page = web.get(f"/console/incidents/{iid}").text
            assert "Reported email: phishing" in page and "Received by 3" in page and "kim (paypa1-secure.example)" in page
            assert "It resembles one of our simulations" not in page  # a PayPal lure is none of the council templates
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            up = web.post("/console/mail", data={"csrf": csrf}, files={"message": ("suspect.eml", _phish().as_bytes(), "message/rfc822")})
            assert up.status_code == 200 and "Verdict: phishing" in up.text and "imitates" in up.text

        done = _json(cfg, "mail", "act", str(iid), "--block", "--purge", "--answer")
        assert {(b["scope"], b["value"]) for b in done["blocked"] if "decision" in b} >= {("email", SENDER),
                                                                                          ("domain", "paypa1-secure.example")}
        lapi = httpx.get(f"http://127.0.0.1:{http}/v1/decisions", params={"scope": "email", "value": SENDER},
                         headers={"X-Api-Key": key}, timeout=10)
        deadline = time.time() + 10
        while lapi.json() is None and time.time() < deadline:  # the server's view catches up with the new decision
            time.sleep(0.3)
            lapi = httpx.get(f"http://127.0.0.1:{http}/v1/decisions", params={"scope": "email", "value": SENDER},
                             headers={"X-Api-Key": key}, timeout=10)
        assert [d["scope"] for d in lapi.json()] == ["Email"]
        assert sorted(p["mailbox"] for p in done["purged"] if p.get("deleted") == 1) == sorted(STAFF), done["purged"]
        for s in STAFF:  # the phish is gone, the other mail stays
            assert [m["internetMessageId"] for m in standin.mailboxes[s]] == [f"<other-{s}@northshire.gov.uk>"]
        answers = {rcpt[0]: body for _, rcpt, body in sink.messages}
        assert sorted(answers) == sorted(STAFF[:2])
        assert all("it was phishing" in b and "blocked" in b for b in answers.values())
        inc = _json(cfg, "incidents", "show", str(iid))
        assert any(c["text"].startswith("Mail response:") for c in inc["comments"])
        engine = open_state(tmp_path / "data")
        with engine.connect() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM identity_actions WHERE action='purge_message' AND status='done'").scalar() == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_mailbox_source_reads_each_report_once(tmp_path, world):
    """The IMAP source alone: messages above the checkpoint, in durable pages with the checkpoint, none twice;
    a report over the size limit is refused with the reason, unread."""
    from garrison.config import load_config
    from garrison.sources.imap import ReportingMailbox

    box = world[0]
    (tmp_path / "pw").write_text("report-pw")
    cfg = load_config(None, data_dir=str(tmp_path / "d"), reporting={
        "host": "127.0.0.1", "port": box.port, "ca_file": str(box.ca_file), "username": "phishing",
        "password_file": str(tmp_path / "pw"), "max_message_bytes": 20_000})
    got: list = []
    src = ReportingMailbox(cfg, got.extend)
    for reporter in STAFF[:2]:
        _append(box, _report_as_attachment(reporter))
    _append(box, _report_as_attachment(STAFF[2]).replace(b"This looks wrong to me.", b"x" * 30_000))
    assert src.read_once() == 3
    assert src.read_once() == 0  # the checkpoint moved: nothing is fetched twice
    msgs = [r for r in got if r.format == "email_report"]
    assert [r.meta.get("record_id", "").split(":")[1] for r in msgs] == ["1", "2", "3"]
    assert "over reporting.max_message_bytes" in msgs[2].meta["reject"]
    assert got[-1].format == "checkpoint" and got[-1].meta["checkpoint"] == 3
    bad = load_config(None, data_dir=str(tmp_path / "d"), reporting={**cfg.reporting.__dict__, "password_file": str(tmp_path / "nope")})
    with pytest.raises(Exception, match="cannot read"):
        ReportingMailbox(bad, got.extend).read_once()
    (tmp_path / "pw2").write_text("Zq9-not-the-password")
    bad = load_config(None, data_dir=str(tmp_path / "d"), reporting={**cfg.reporting.__dict__, "password_file": str(tmp_path / "pw2")})
    with pytest.raises(Exception, match="check the user name and password") as refused:
        ReportingMailbox(bad, got.extend).read_once()
    assert "Zq9" not in str(refused.value)  # the secret is never in an error
