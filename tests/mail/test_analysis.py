"""Mail analysis, signal by signal: each test builds the message a phisher would send and checks the verdict's reasons.

The files are real formats made by real tools (Python's email package, zipfile with ZipCrypto flags as 7-Zip
writes them, zxing-cpp's QR encoder, mailbox.mbox), not strings shaped to match the code.
"""

from __future__ import annotations

import io
import mailbox
import zipfile
from email.message import EmailMessage

import pytest
import zxingcpp
from PIL import Image

from garrison.config import load_config
from garrison.detect.detectors import phish, phish_model
from garrison.parse.mail import parse_message
from garrison.pipeline.mail import analyze, analyze_bytes, summary
from garrison.sources.mail import read_messages

OWN = ("northshire.gov.uk",)


def _msg(frm="PayPal <service@paypa1-security.com>", subject="Your account has been limited", body="Hello",
         html=None, to="staff@northshire.gov.uk", **headers) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, to, subject
    m["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    m["Message-ID"] = "<abc123@mailer.example>"
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    if html:
        m.add_alternative(html, subtype="html")
    return m


@pytest.fixture(scope="module")
def rules():
    return phish.Rules.load(OWN, ("hospitaltrust.nhs.uk",), {"jane hughes": "jhughes"})


def _signals(m: EmailMessage, rules) -> dict[str, str]:
    return dict(phish.signals(parse_message(m.as_bytes()), rules))


def test_lookalike_domains(rules):
    assert "paypal" in rules.lookalike("paypa1.com")  # homoglyph digit
    assert rules.lookalike("xn--pypal-4ve.com")  # Cyrillic а in punycode
    assert rules.lookalike("paypal.com.account-check.example")  # the real domain worn as a subdomain
    assert rules.lookalike("microsoft-support.com")  # a brand as a hyphenated part
    assert "our own domain" in rules.lookalike("northshlre.gov.uk")  # one letter off our own
    assert "our own domain" in rules.lookalike("northshire-payroll.com")
    assert "our partner" in rules.lookalike("hospitaltrust.nhs.uk.secure-login.example")
    for real in ("paypal.com", "www.paypal.com", "microsoft.com", "example.org", "github.com"):
        assert rules.lookalike(real) is None, real


def test_headers(rules):
    m = _msg(frm='"billing@paypal.com" <x@mailer.example>', Reply_To="collect@elsewhere.example",
             Authentication_Results="mx.council; spf=fail smtp.mailfrom=mailer.example; dkim=none; dmarc=fail")
    s = _signals(m, rules)
    assert {"display_name_address", "reply_to_elsewhere", "dmarc_fail"} <= set(s)
    s = _signals(_msg(frm="PayPal Service <no-reply@notify-center.example>"), rules)
    assert s["brand_impersonation"] == "paypal"
    s = _signals(_msg(frm="Jane Hughes <jane.hughes.ceo@gmail.com>", subject="quick favour"), rules)
    assert s["staff_impersonation"] == "jhughes"


def test_links(rules):
    html = ('<p>Sign in at <a href="http://198.51.100.7/login">https://www.paypal.com/signin</a></p>'
            '<a href="https://bit.ly/3xYz">track</a> <a href="data:text/html;base64,PHNjcmlwdD4=">open</a>'
            '<a href="https://login-page.web.app/x">portal</a>'
            '<form action="https://collect.example/p"><input type="password" name="p"></form>')
    s = _signals(_msg(html=html, body="Verify your account within 24 hours"), rules)
    assert s["link_text_mismatch"].startswith("www.paypal.com")
    assert s["ip_url"] == "198.51.100.7"
    assert s["shortener"] == "bit.ly"
    assert s["script_url"] == "data:"
    assert s["abused_hosting"] == "login-page.web.app"
    assert "credential_form" in s and "urgency" in s and "credential_words" in s


def test_attachments(rules):
    m = _msg(body="Your invoice is attached. The password is: Inv2026!")
    m.add_attachment(b"MZ\x90\x00" + b"\x00" * 200, maintype="application", subtype="pdf", filename="invoice.pdf")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("invoice.js", "WScript.Shell")
    data = bytearray(buf.getvalue())
    data[6] |= 1  # the general-purpose flag's encryption bit, as an encrypting archiver sets it
    cd = data.find(b"PK\x01\x02")
    data[cd + 8] |= 1
    m.add_attachment(bytes(data), maintype="application", subtype="zip", filename="docs.zip")
    m.add_attachment(b"<html><script>var b=new Blob([atob('TVo=')]);</script></html>", maintype="text", subtype="html",
                     filename="remittance.html")
    ev = parse_message(m.as_bytes())
    kinds = {a["file.name"]: a["kind"] for a in ev["email.attachments"]}
    assert kinds == {"invoice.pdf": "executable", "docs.zip": "zip", "remittance.html": "html"}
    s = dict(phish.signals(ev, rules))
    assert "invoice.pdf: executable" in s["risky_attachment"]
    assert s["encrypted_archive"] == "docs.zip"
    assert s["html_attachment"] == "remittance.html" and "smuggling" in s
    assert all(len(a["file.hash.sha256"]) == 64 for a in ev["email.attachments"])


def test_qr_code_in_image(rules):
    code = zxingcpp.create_barcode("https://m365-login.example/verify", zxingcpp.BarcodeFormat.QRCode)
    mv = memoryview(code.to_image(scale=6, add_quiet_zones=True))
    png = io.BytesIO()
    Image.frombytes("L", (mv.shape[1], mv.shape[0]), mv.tobytes()).save(png, "PNG")
    m = _msg(subject="MFA re-enrolment required", body="Scan the code with your phone to keep access.")
    m.add_attachment(png.getvalue(), maintype="image", subtype="png", filename="mfa.png")
    ev = parse_message(m.as_bytes())
    assert {"url": "https://m365-login.example/verify", "text": "", "via": "qr"} in ev["garrison.mail.links"]
    assert dict(phish.signals(ev, rules))["qr_link"] == "m365-login.example"


def test_verdicts_with_reasons(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path))
    bad = _msg(html='<a href="http://paypa1-secure.example/login">https://www.paypal.com</a>',
               body="Your account will be suspended within 24 hours. Verify your account now.")
    ev = analyze_bytes(cfg, bad.as_bytes(), "upload")
    s = summary(ev)
    assert s["verdict"] == "phishing" and s["score"] >= 4
    assert any("imitates" in r for r in s["reasons"]) and any("shows one address" in r for r in s["reasons"])
    good = _msg(frm="Tom Baker <tom@northshire.gov.uk>", subject="Minutes of Tuesday's meeting",
                body="Hi all, the minutes are on the shared drive under Committees/2026. Thanks, Tom")
    assert summary(analyze_bytes(cfg, good.as_bytes(), "upload"))["verdict"] == "legitimate"
    sim = _msg(X_Garrison_Campaign="march-invoice", X_Garrison_Token="Qm9vdHN0cmFwVG9rZW4xMjM")
    ev = parse_message(sim.as_bytes())
    rules, model = phish.Rules.load(OWN), phish_model.load()
    assert phish.judge(ev, rules, model, simulation=lambda t: t == "Qm9vdHN0cmFwVG9rZW4xMjM").verdict == "simulation"
    # a forged header with a token Garrison never issued is judged like any other message
    assert phish.judge(ev, rules, model, simulation=lambda t: False).verdict == "phishing"


def test_reports_are_unwrapped(tmp_path):
    suspect = _msg(html='<a href="http://198.51.100.7/x">https://www.paypal.com</a>')
    report = EmailMessage()
    report["From"], report["To"], report["Subject"] = "jo@northshire.gov.uk", "phishing@northshire.gov.uk", "FW: odd"
    report.set_content("This looks wrong")
    report.add_attachment(suspect)  # message/rfc822, as Outlook's "forward as attachment" sends it
    ev = parse_message(report.as_bytes(), report=True)
    assert ev["email.reporter.address"] == "jo@northshire.gov.uk"
    assert ev["email.from.address"] == "service@paypa1-security.com"
    inline = _msg(frm="jo@northshire.gov.uk", subject="Fwd: invoice",
                  body="---------- Forwarded message ---------\nFrom: Billing <pay@billing-desk.example>\n"
                       "Date: Mon, 30 Nov 2026\nSubject: invoice\n\nPay now")
    ev = parse_message(inline.as_bytes())
    assert ev["email.from.address"] == "pay@billing-desk.example" and ev["email.reporter.address"] == "jo@northshire.gov.uk"


def test_mbox_tar_and_bad_files(tmp_path):
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    for i in range(3):
        box.add(_msg(subject=f"message {i}"))
    box.flush()
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "broken.msg").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    items = [summary(x) for x in analyze(load_config(None, data_dir=str(tmp_path / "d")), [tmp_path])]
    by = {}
    for s in items:
        by.setdefault(s["verdict"] == "unreadable", []).append(s)
    assert sorted(s["subject"] for s in by[False]) == ["message 0", "message 1", "message 2"]
    reasons = sorted(s["reasons"][0] for s in by[True])
    assert reasons[0] == "empty message" and reasons[1].startswith("not a readable Outlook .msg file")
    assert [r.position for r in read_messages([tmp_path / "inbox.mbox"])] == [1, 2, 3]


def test_malformed_mime_is_flagged_not_fatal():
    raw = (b"From: a@b.example\r\nSubject: =?utf-8?B?broken\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n"
           b"Message-ID: <a@b@c>\r\nDate: Sun, 31 Feb 19999 99:99:99 +9999\r\n\r\n--x\r\nContent-Type: text/plain; charset=x-unknown\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n!!notbase64!!\r\n")
    ev = parse_message(raw)
    assert ev["garrison.mail.defects"] and "@timestamp" not in ev
