"""syslog, sshd and PAM on loghub's OpenSSH and Linux samples and fail2ban's sshd lines."""

from __future__ import annotations

import csv
import re
from collections import Counter

from tests.conftest import parse_lines


def test_loghub_openssh_every_line_and_template(data):
    """loghub OpenSSH: every line parses; counts per template match the labelled CSV."""
    path = data / "loghub/OpenSSH/OpenSSH_2k.log"
    events, errors = parse_lines(path.read_text().splitlines())
    assert errors == [] and len(events) == 2000
    truth = Counter(r["EventTemplate"] for r in csv.DictReader(open(str(path) + "_structured.csv")))
    failed = sum(n for t, n in truth.items() if t.startswith("Failed ") or "[ Failed password" in t)
    got = sum(1 for e in events if e.get("event.action") == "ssh_login" and e["event.outcome"] == "failure")
    assert got == failed
    assert sum(1 for e in events if e.get("event.action") == "ssh_login" and e["event.outcome"] == "success") == \
        truth["Accepted password for <*> from <*> port <*> ssh2"]
    assert sum(1 for e in events if e.get("event.action") == "invalid_user") == truth["Invalid user <*> from <*>"]
    # the second log line of the same attempt is kept but not counted as another failure
    assert sum(1 for e in events if e.get("event.action") == "invalid_user_request") == \
        truth["input_userauth_request: invalid user <*> [preauth]"]
    pam_fail = [e for e in events if e.get("event.action") == "pam_auth"]
    assert len(pam_fail) == sum(n for t, n in truth.items()
                                if t.startswith("pam_unix(sshd:auth): authentication failure") or "more authentication failure" in t)
    e = next(e for e in events if e.get("event.action") == "ssh_login")
    assert e["host.name"] == "LabSZ" and e["process.name"] == "sshd" and e["source.ip"] and e["source.port"] > 0
    # every failure from the network names its source address
    assert all("source.ip" in e or "source.domain" in e for e in events if e.get("event.action") == "ssh_login")


def test_loghub_linux_pam_and_generic_syslog(data):
    events, errors = parse_lines((data / "loghub/Linux/Linux_2k.log").read_text(errors="replace").splitlines())
    assert errors == []
    fails = [e for e in events if e.get("event.action") == "pam_auth"]
    assert len(fails) > 300 and all(e["event.outcome"] == "failure" for e in fails)
    assert any(e.get("source.ip") == "218.188.2.4" for e in fails)
    assert {e["event.dataset"] for e in events} >= {"pam", "syslog"}


def test_fail2ban_sshd_failures_name_the_host(data):
    """fail2ban's labelled sshd lines: a match:true line with an IP host is a failed authentication from that IP."""
    lines = (data / "fail2ban/logs/sshd").read_text(errors="replace").splitlines()
    labelled = []
    for i, line in enumerate(lines[:-1]):
        m = re.match(r'# failJSON: (\{.*\})', line)
        if m and '"match": true' in m.group(1).replace("true ,", "true,").replace(' ,', ','):
            host = re.search(r'"host":\s*"([^"]+)"', m.group(1))
            core = re.search(r"Failed \S+ for|[Ii]nvalid user|[Aa]uthentication (failure|error)|not allowed because|ROOT LOGIN REFUSED",
                             lines[i + 1])
            if host and re.fullmatch(r"[\d.]+", host.group(1)) and host.group(1) in lines[i + 1] and core:
                labelled.append((lines[i + 1], host.group(1)))
    assert len(labelled) > 30
    hit = 0
    for line, host in labelled:
        events, _ = parse_lines([line])
        if events and events[0].get("event.outcome") == "failure" and events[0].get("source.ip") == host:
            hit += 1
    # Only the core authentication messages: lines fail2ban matches in its 'aggressive' mode
    # (preauth disconnects, banners) belong to the rule pack's detection suite.
    assert hit / len(labelled) >= 0.95, f"{hit}/{len(labelled)}"


def test_rfc5424_structured_data_bom_and_escapes():
    line = ('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
            '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][ex@1 q="a\\"b\\]c"] \ufeffAn application event')
    (ev,), errors = parse_lines([line])
    assert not errors
    assert ev["log.syslog.structured_data"]["exampleSDID@32473"]["eventID"] == "1011"
    assert ev["log.syslog.structured_data"]["ex@1"]["q"] == 'a"b]c'
    assert ev["message"] == "An application event"
    assert ev["log.syslog.priority"] == 165 and ev["log.syslog.facility.code"] == 20 and ev["log.syslog.severity.code"] == 5
    assert ev["host.name"] == "mymachine.example.com" and ev["log.syslog.msgid"] == "ID47"
    assert ev["@timestamp"] == 1065910455003000


def test_rfc5424_nil_values_and_3164_with_pri():
    (a, b), errors = parse_lines(["<34>1 2026-01-02T03:04:05+01:00 - - - - - hello", "<13>Feb  5 17:32:18 10.0.0.99 myapp[42]: Use the BFG!"])
    assert not errors
    assert a["message"] == "hello" and a["@timestamp"] == 1767319445000000
    assert b["host.name"] == "10.0.0.99" and b["process.name"] == "myapp" and b["process.pid"] == 42


def test_pfsense_rfc5424_filterlog(data):
    lines = (data / "crowdsec-hub/tests/pfsense-rfc5424-filterlog/pfsense-rfc5424-filterlog.log").read_text().splitlines()
    events, errors = parse_lines(lines)
    assert not errors
    fw = [e for e in events if e["event.dataset"] == "firewall.filterlog"]
    assert fw and all(e["source.ip"] and e["event.action"] in ("block", "pass") for e in fw)
    assert fw[0]["destination.port"] == 80 and fw[0]["network.transport"] == "tcp"


def test_service_auth_failures():
    """Common services' failed logins (messages as in fail2ban's labelled samples)."""
    cases = [
        ("Mar 24 15:25:51 buffalo1 dropbear[4092]: bad password attempt for 'root' from 198.51.100.87:5543", "198.51.100.87", "root"),
        ("Jan 4 21:51:05 hostname cyrus/imap[5355]: badlogin: localhost.localdomain [127.0.0.1] plaintext cyrus@localdomain "
         "SASL(-13): authentication failure: checkpass failed", "127.0.0.1", "cyrus@localdomain"),
        ("Feb  3 08:29:28 mail postfix/smtpd[21022]: warning: unknown[1.1.1.1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
         "1.1.1.1", None),
        ("130324  0:04:00 [Warning] Access denied for user 'root'@'192.168.1.35' (using password: NO)", "192.168.1.35", "root"),
        ("srv sshd[13709]: Failed password for root from 192.0.2.9 port 22 ssh2", "192.0.2.9", "root"),
    ]
    for line, ip, user in cases:
        (ev,), errors = parse_lines([line])
        assert not errors
        assert ev["event.category"] == "authentication" and ev["event.outcome"] == "failure", line
        assert ev["source.ip"] == ip and ev.get("user.name") == user, (line, ev.get("source.ip"), ev.get("user.name"))


def test_ordinary_lines_are_not_failures():
    for line in ["Mar 24 15:25:51 host CRON[4092]: (root) CMD (run-parts /etc/cron.hourly)",
                 "Mar 24 15:25:51 host postfix/smtpd[1]: connect from mail.example.com[203.0.113.5]",
                 "Mar 24 15:25:51 host dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=203.0.113.5"]:
        (ev,), _ = parse_lines([line])
        assert ev.get("event.outcome") != "failure", line
