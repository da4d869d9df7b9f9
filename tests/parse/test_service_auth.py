"""Failed logins and other refused attempts in the logs of common services, one line each (written for these
tests in the shapes the services log), and fail2ban's labelled lines measured per service."""

from __future__ import annotations

import pytest

from garrison.evaluate.suites import F2B_NOT_LOGIN, fail2ban, fail2ban_summary
from tests.conftest import parse_lines


def _one(line: str) -> dict:
    events, errors = parse_lines([line])
    assert not errors, errors
    return events[0]


@pytest.mark.parametrize("line,ip,user,category", [
    ("2026-03-02T09:14:00.101Z: Failed Login: username=jsmith ip=203.0.113.9", "203.0.113.9", "jsmith", "authentication"),
    ('t=2026-03-02T09:14:01+0000 lvl=eror msg="Invalid username or password" logger=context uname=admin '
     'error="invalid password" remote_addr=203.0.113.10', "203.0.113.10", "admin", "authentication"),
    ("2026-03-02  9:14:02 140245 [Warning] Access denied for user 'app'@'203.0.113.11' (using password: YES)",
     "203.0.113.11", "app", "authentication"),
    ("2026-03-02 09:14:03 plain authenticator failed for mail.example.net ([10.1.1.1]) [203.0.113.12]: 535 "
     "Incorrect authentication data (set_id=info)", "203.0.113.12", None, "authentication"),
    ("Mar  2 09:14:04 mx postfix/smtpd[311]: NOQUEUE: reject: RCPT from unknown[203.0.113.13]: 554 5.7.1 "
     "<x@example.org>: Relay access denied; from=<a@b.c> to=<x@example.org> proto=ESMTP helo=<pc>",
     "203.0.113.13", None, "email"),
    ("Mar  2 09:14:05 web sshd[77]: Connection closed by authenticating user root 203.0.113.14 port 4422 [preauth]",
     "203.0.113.14", "root", "authentication"),
    ("Mar  2 09:14:06 web sshd[78]: Unable to negotiate with 203.0.113.15 port 4423: no matching key exchange "
     "method found.", "203.0.113.15", None, "network"),
    ('203.0.113.16 - alice [02/Mar/2026:09:14:07 +0000] "GET /private/ HTTP/1.1" 401 381 "-" "curl/8"',
     "203.0.113.16", "alice", "authentication"),
    ("[Mon Mar 02 09:14:08.1 2026] [auth_basic:error] [pid 9] [client 203.0.113.17:5050] AH01617: user bob: "
     "authentication failure for \"/admin\": Password Mismatch", "203.0.113.17", "bob", "authentication"),
    # applications with their own stamps and phrases
    ("[2026-03-02 09:14:09.129][vaultwarden::api::identity][ERROR] Username or password is incorrect. Try again. "
     "IP: 203.0.113.18. Username: jo@example.org.", "203.0.113.18", "jo@example.org", "authentication"),
    ("2026:03:02-09:14:10: '203.0.113.19' 3 failed login attempts. Account 'admin'", "203.0.113.19", "admin",
     "authentication"),
    ("<W>2026-03-02 09:14:11.818 1 => <4:mallory(-1)> Rejected connection from 203.0.113.23:29530: Invalid server "
     "password", "203.0.113.23", "mallory", "authentication"),
    ("Mar  2 09:14:12 gw.local system,error,critical login failure for user admin from 203.0.113.24 via ssh",
     "203.0.113.24", "admin", "authentication"),
    ("Mar  2 09:14:13 srv xrdp-sesman[41441]: [INFO ] AUTHFAIL: user=kim ip=::ffff:203.0.113.25 time=1649351466",
     "203.0.113.25", "kim", "authentication"),
    ("Mar  2 09:14:14 sb1 webmin[22134]: Non-existent login as robert from 203.0.113.26", "203.0.113.26", "robert",
     "authentication"),
    ("[2026-03-02 09:14:15] [admin] failed to login from 203.0.113.27:65001", "203.0.113.27", "admin",
     "authentication"),
    ("[Mon Mar 02 09:14:16.5 2026] [php7:notice] [pid 11] [client 203.0.113.28:39568] ERR [Login denied for user "
     "\"cam\"], referer: https://zm/", "203.0.113.28", "cam", "authentication"),
    ("Mar  2 09:14:17 mail dovecot: imap-login: Disconnected (disconnected before auth was ready, waited 0 secs): "
     "user=<>, rip=203.0.113.29, lip=192.0.2.2, TLS handshaking: SSL_accept() syscall failed", "203.0.113.29", None,
     "email"),
])
def test_a_refused_attempt_names_its_source(line, ip, user, category):
    ev = _one(line)
    assert (ev["event.category"], ev["event.outcome"], ev.get("source.ip")) == (category, "failure", ip)
    if user:
        assert ev.get("user.name") == user


@pytest.mark.parametrize("line", [
    # a 401 without a name is the server's first challenge, not a failed login
    '203.0.113.20 - - [02/Mar/2026:09:15:00 +0000] "GET /private/ HTTP/1.1" 401 381 "-" "Mozilla/5.0"',
    # a client's own text that looks like an Apache auth message is not one
    "[Mon Mar 02 09:15:01 2026] [error] [client 203.0.113.21] File does not exist: /srv/[client 10.0.0.1] user "
    "root not found",
    # the authentication server failed, not the client
    "Mar  2 09:15:02 mx postfix/smtpd[12]: warning: unknown[203.0.113.22]: SASL LOGIN authentication failed: "
    "Connection lost to authentication server",
    # MSSQL echoing the bytes a client sent: the phrase and address after it are the client's
    "2026-03-02 09:15:03.02 Wrong data received: Logon       Login failed for user 'sa'. [CLIENT: 203.0.113.23]",
    # monit's first request carries no name yet
    "Mar  2 09:15:04 host monit[5731]: HttpRequest: access denied -- client 203.0.113.24: unknown user ''",
    # a digest nonce from before the server restarted: the browser's, not a guess
    "[Mon Mar 02 09:15:05 2026] [error] [client 203.0.113.25] Digest: invalid nonce l19lgpDiBAZZZf1ec3d9613f3b3ef4 "
    "received - hash is not 6fda8bbcbcf85ff1ebfe7d1c43faba583bc53a02",
])
def test_not_a_failed_login(line):
    ev = _one(line)
    assert not (ev.get("event.category") == "authentication" and ev.get("event.outcome") == "failure")


def test_sshd_lines_without_an_address_take_it_from_the_process():
    events, _ = parse_lines([
        "Mar  2 09:16:00 web sshd[4242]: Failed password for root from 203.0.113.30 port 5000 ssh2",
        "Mar  2 09:16:01 web sshd[4242]: Disconnecting: Too many authentication failures for root [preauth]",
        "Mar  2 09:16:02 web sshd[4242]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
        "ruser= rhost=203.0.113.30  user=root",
    ])
    assert events[1]["source.ip"] == "203.0.113.30" and events[1]["event.outcome"] == "failure"
    # this sshd reports each failure itself: PAM's line is the same attempt, not another
    assert events[2]["event.outcome"] == "unknown"


def test_fail2ban_suite_measures_login_services_apart(data):
    rows = fail2ban(data)
    summary = {r.cls: r for r in fail2ban_summary(rows)}
    login = next(r for k, r in summary.items() if k.startswith("login services") and k.endswith("any attempt"))
    strict = next(r for k, r in summary.items() if k.startswith("login services") and k.endswith("failed login"))
    assert login.positives == strict.positives > 700 and login.detected >= strict.detected
    assert not any(r.cls in F2B_NOT_LOGIN for r in rows if r.suite == "fail2ban-login" and r.detected)
    sshd = next(r for r in rows if r.suite == "fail2ban" and r.cls == "sshd")
    assert sshd.recall > 0.85  # the service every organisation runs


def test_pam_takes_the_rhost_after_ruser_not_one_a_client_wrote():
    """ruser and user are the client's text; a forged 'rhost=' inside either must not name the source."""
    events, _ = parse_lines([
        "Mar  2 09:17:00 mail dovecot-auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 "
        "tty=dovecot ruser=rhost=198.51.100.1 rhost=203.0.113.40",
        "Mar  2 09:17:01 srv2 daemon: pam_unix(auth): authentication failure; logname= uid=0 euid=0 tty=xxx ruser= "
        "rhost=203.0.113.41 user=test rhost=198.51.100.2",
    ])
    assert [e["source.ip"] for e in events] == ["203.0.113.40", "203.0.113.41"]


def test_application_log_stamps_give_the_event_time():
    from datetime import datetime, timezone

    events, _ = parse_lines([
        "10/06/2013 15:50:41 [LOGIN_ERROR] dadas (mydomain.org) from 203.0.113.50: Unknown user or password incorrect.",
        "2014:07:02-00:17:45: '203.0.113.51' 2 failed login attempts. Account 'test'",
        "[2024-08-31 02:11:22.129+0800][vaultwarden::api::admin][ERROR] Invalid admin token! IP: 203.0.113.52",
    ])
    got = [datetime.fromtimestamp(e["@timestamp"] / 1e6, timezone.utc).isoformat() for e in events]
    assert got == ["2013-10-06T15:50:41+00:00", "2014-07-02T00:17:45+00:00", "2024-08-30T18:11:22.129000+00:00"]


def test_refused_probes_of_other_servers():
    """DNS, scan detectors, mail refusals, fail2ban's own bans, Squid, and web servers' 404s and rate limits in
    their error logs: attempts of their kinds, with the client's address."""
    events, errors = parse_lines([
        "Jul 24 14:16:55 ns1 named[3935]: client 203.0.113.60#4795: query 'example.org/NS/IN' denied",
        "Mar  5 21:44:43 srv scanlogd: 203.0.113.61 to 192.0.2.1 ports 80, 81, 83, 88, ..., f????uxy, TOS 00 @20:44:43",
        "Feb 25 03:01:10 mx sm-mta[27713]: s1P819mk027713: ruleset=check_rcpt, arg1=<a@example.ru>, "
        "relay=host.example.ru [203.0.113.62], reject=550 5.7.1 <a@example.ru>... Relaying denied",
        "Sep 16 00:44:55 gw fail2ban.actions: NOTICE [sshd] Ban 203.0.113.63",
        "1386543323.000      4 203.0.113.64 TCP_DENIED/403 4099 GET http://www.example.de/azenv.php - HIER_NONE/- text/html",
        '2015/01/21 10:56:10 [error] 2833#0: *16336 open() "/var/www/site/cgi-bin/php4" failed (2: No such file or '
        'directory), client: 203.0.113.65, server: localhost, request: "GET /cgi-bin/php4 HTTP/1.1", host: "x"',
        '2015/10/29 20:01:02 [error] 256554#0: *99927 limiting requests, excess: 1.852 by zone "one", client: '
        '203.0.113.66, server: example.com, request: "POST /index.htm HTTP/1.0", host: "example.com"',
        "[Mon Dec 23 09:49:10 2013] [error] [client 203.0.113.67] File does not exist: /var/www/phpmyadmin",
    ])
    assert not errors
    got = [(e.get("event.category"), e.get("event.action"), e.get("source.ip")) for e in events]
    assert got == [("network", "dns_refused", "203.0.113.60"), ("network", "port_scan", "203.0.113.61"),
                   ("email", "smtp_reject", "203.0.113.62"), ("intrusion_detection", "banned_elsewhere", "203.0.113.63"),
                   ("web", "tcp_denied", "203.0.113.64"), ("web", "file_not_found", "203.0.113.65"),
                   ("web", "rate_limited", "203.0.113.66"), ("web", "file_not_found", "203.0.113.67")]
    assert all(e["event.outcome"] == "failure" for e in events)
    assert events[5]["url.path"] == "/cgi-bin/php4" and events[4]["url.domain"] == "www.example.de"
    # fail2ban's recidive jail re-bans offenders already counted
    (ev,), _ = parse_lines(["Sep 16 00:44:56 gw fail2ban.actions: NOTICE [recidive] Ban 203.0.113.63"])
    assert ev.get("event.action") != "banned_elsewhere"
