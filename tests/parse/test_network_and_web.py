"""Firewalls (iptables, pf, CEF), web access logs, Zeek and Suricata on real samples."""

from __future__ import annotations

import gzip
import itertools

import pytest

from tests.conftest import parse_lines

HUB = "crowdsec-hub/tests"


def _lines(path):
    return path.read_text(errors="replace").splitlines()


def test_iptables(data):
    events, errors = parse_lines(_lines(data / HUB / "iptables-logs/iptables-logs.log"))
    nf = [e for e in events if e["event.dataset"] == "firewall.netfilter"]
    assert len(nf) >= 3
    e = nf[0]
    assert e["source.ip"] == "195.54.160.107" and e["destination.port"] == 8123 and e["network.transport"] == "tcp"
    assert e["event.type"] == "denied"


def test_pf_filterlog_bsd_and_5424(data):
    events, errors = parse_lines(_lines(data / HUB / "pf-logs/pf-logs.log"))
    assert not errors and all(e["event.dataset"] == "firewall.filterlog" for e in events)
    assert events[0]["source.ip"] == "10.0.2.2" and events[0]["destination.port"] == 22
    assert any(e.get("network.type") == "ipv6" for e in events)


def test_cef(data):
    events, errors = parse_lines(_lines(data / HUB / "cef-logs/cef-logs.log"))
    # the hub's sample has one line without the 'CEF:' header on purpose; it must be refused, with the reason
    assert [r for _, r in errors] == ["CEF: no 'CEF:' header"]
    cef = [e for e in events if e["event.dataset"] == "cef"]
    assert len(cef) == len(events)
    assert cef[0]["observer.vendor"] == "Ubiquiti" and cef[0]["source.ip"] == "10.72.1.222"
    assert cef[0]["cef.extensions.UNIFIadmin"] == "Secure Admin"


def test_cef_in_syslog(data):
    events, errors = parse_lines(_lines(data / HUB / "unifi-cef/cef-logs.log"))
    assert events and all(e["event.dataset"] == "cef" for e in events), errors[:3]


@pytest.mark.parametrize("name", ["nginx-http-sqli-probing", "apache2-logs", "nginx-http-xss-probing", "apache2-http-sensitive-files"])
def test_access_logs(data, name):
    path = next((data / HUB / name).glob("*.log"))
    events, errors = parse_lines(_lines(path))
    access = [e for e in events if e["event.dataset"] == "web.access"]
    assert access and len(access) >= len(events) - 2
    e = access[0]
    assert e["source.ip"] and e["http.request.method"] and e["url.original"] and 100 <= e["http.response.status_code"] < 600


def test_access_combined_fields(data):
    line = _lines(data / HUB / "apache2-logs/apache2-logs.log")[1]
    (e,), _ = parse_lines([line])
    assert e["source.ip"] == "164.68.112.178" and e["url.path"] == "/" and e["http.response.status_code"] == 500
    assert e["user_agent.original"].startswith("masscan") and e["@timestamp"] == 1591599688000000


def test_iis_w3c():
    """IIS W3C extended: the shared data has none in this format, so a log in IIS's exact default layout."""
    lines = [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Version: 1.0",
        "#Date: 2026-11-28 10:00:00",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
        "2026-11-28 10:00:01 10.0.0.5 POST /owa/auth.owa - 443 - 203.0.113.5 Mozilla/5.0+(Windows+NT+10.0) - 302 0 0 15",
        "2026-11-28 10:00:02 10.0.0.5 GET /ecp/default.aspx id=1%27 443 COUNCIL\\bob 198.51.100.7 python-requests/2.31 - 401 1 2148074254 3",
    ]
    events, errors = parse_lines(lines)
    assert not errors and len(events) == 2
    a, b = events
    assert a["source.ip"] == "203.0.113.5" and a["url.path"] == "/owa/auth.owa" and a["http.response.status_code"] == 302
    assert a["user_agent.original"] == "Mozilla/5.0 (Windows NT 10.0)" and a["destination.port"] == 443
    assert b["url.original"] == "/ecp/default.aspx?id=1%27" and b["user.name"] == "COUNCIL\\bob" and b["event.outcome"] == "failure"
    assert a["@timestamp"] == 1795860001000000


def test_zeek_every_log(data):
    datasets = set()
    total = 0
    for f in sorted((data / "zeek").glob("*.json.gz")):
        with gzip.open(f, "rt") as fh:
            lines = list(itertools.islice(fh, 200))
        events, errors = parse_lines([x for x in lines if x.strip()])
        assert not errors, (f.name, errors[:2])
        total += len(events)
        datasets |= {e["event.dataset"] for e in events}
    assert {"zeek.dns", "zeek.ssl", "zeek.rdp", "zeek.smb_files", "zeek.ntlm", "zeek.kerberos"} <= datasets
    (dns,), _ = parse_lines([gzip.open(data / "zeek/dns.json.gz", "rt").readline()])
    assert dns["source.ip"] == "10.47.1.100" and dns["destination.port"] == 53 and dns["dns.question.name"] == "ise.wrccdc.org"


def test_suricata_eve(data):
    events, errors = parse_lines(_lines(data / HUB / "suricata-logs-evelog/suricata-logs-evelog.log"))
    assert not errors
    alerts = [e for e in events if e["event.kind"] == "alert"]
    assert alerts and alerts[0]["rule.name"].startswith("ET WEB_SPECIFIC_APPS") and alerts[0]["source.ip"] == "1.2.3.4"


def test_generic_json_field_map():
    from garrison.model import RawRecord
    from garrison.parse import ParseState, parse_record

    st = ParseState(source="x", format="generic_json", forced=True,
                    field_map={"src": "source.ip", "who": "user.name", "when": "@timestamp"})
    ev = parse_record(RawRecord(text='{"when":"2026-11-28T00:00:00Z","src":"192.0.2.1","who":"eve","n":{"a":1}}', source="x"), st)
    assert ev["source.ip"] == "192.0.2.1" and ev["user.name"] == "eve" and ev["n.a"] == 1
    assert ev["@timestamp"] == 1795824000000000
