"""Threat-intelligence matching: CSV, plain lists, STIX 2.1 bundles and MISP events, with expiry and source."""

from __future__ import annotations

import orjson

from garrison.config import load_config
from garrison.detect.detectors.intel import IntelStage
from garrison.detect.intel import load_intel
from garrison.model import RawRecord
from garrison.pipeline import build_pipeline

STIX = {"type": "bundle", "id": "bundle--1", "objects": [
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--a", "name": "partner-cert", "pattern_type": "stix",
     "pattern": "[ipv4-addr:value = '185.220.101.4']", "valid_from": "2026-01-01T00:00:00Z"},
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--b", "name": "partner-cert", "pattern_type": "stix",
     "pattern": "[domain-name:value = 'evil.example']", "valid_from": "2026-01-01T00:00:00Z"},
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--c", "name": "old", "pattern_type": "stix",
     "pattern": "[ipv4-addr:value = '198.51.100.77']", "valid_from": "2020-01-01T00:00:00Z",
     "valid_until": "2020-02-01T00:00:00Z"},
]}
MISP = {"Event": {"info": "Ransomware loader", "Attribute": [
    {"type": "sha256", "value": "A" * 64, "to_ids": True},
    {"type": "url", "value": "http://bad.example/payload.ps1", "to_ids": True},
    {"type": "ip-dst", "value": "192.0.2.50", "to_ids": False}]}}


def _feeds(tmp_path):
    d = tmp_path / "intel"
    d.mkdir()
    (d / "cert.json").write_bytes(orjson.dumps(STIX))
    (d / "misp-event.json").write_bytes(orjson.dumps(MISP))
    (d / "blocklist.csv").write_text("type,value,source,expires\ncidr,203.0.113.0/28,abuse-feed,\n"
                                     "ip,198.51.100.9,abuse-feed,2020-01-01T00:00:00Z\nbogus,x,y,\n")
    (d / "plain.txt").write_text("# one per line\n45.155.205.233\nphish.example\nnot a thing\n")
    return d


def test_loading_reports_bad_lines(tmp_path):
    idx = load_intel([_feeds(tmp_path)])
    assert {(i.type, i.value) for i in idx.exact.values()} >= {("ip", "185.220.101.4"), ("domain", "evil.example"),
                                                             ("hash", "a" * 64), ("url", "http://bad.example/payload.ps1")}
    assert ("ip", "192.0.2.50") not in idx.exact  # MISP to_ids false: context, not an indicator
    errs = sorted(str(e) for e in idx.errors)
    assert any("blocklist.csv line 4" in e and "unknown indicator type" in e for e in errs)
    assert any("plain.txt line 4" in e for e in errs)
    assert idx.ip("198.51.100.77") is None and idx.ip("198.51.100.9") is None  # expired
    assert idx.ip("203.0.113.7").source == "abuse-feed" and idx.domain("cdn.evil.example").value == "evil.example"


def test_matches_in_the_pipeline(tmp_path):
    idx = load_intel([_feeds(tmp_path)])
    pipe = build_pipeline(load_config(None, data_dir=str(tmp_path), enrich={"geoip": False}), [IntelStage(idx)])
    sysmon = {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": "pc1", "Image": "C:\\\\x.exe",
              "Hashes": f"MD5={'0' * 32},SHA256={'A' * 64}", "@timestamp": "2026-11-28T10:00:00Z"}
    zeek = {"_path": "dns", "ts": 1795860000.0, "uid": "C1", "id.orig_h": "10.0.0.5", "id.orig_p": 5353,
            "id.resp_h": "10.0.0.1", "id.resp_p": 53, "query": "login.evil.example"}
    lines = ['185.220.101.4 - - [28/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"',
             '81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "x"',
             orjson.dumps(sysmon).decode(), orjson.dumps(zeek).decode()]
    b = pipe.process([RawRecord(text=x, source="t", position=i) for i, x in enumerate(lines, 1)])
    got = sorted((d.source_record, d.extra["indicator"], d.extra["indicator_source"]) for d in b.detections)
    assert got == [(1, "185.220.101.4", "partner-cert"), (3, "a" * 64, "misp:Ransomware loader"),
                   (4, "evil.example", "partner-cert")]


def test_lists_written_while_running_are_picked_up(tmp_path):
    """The reported-phish list is written by the service itself; the intel stage sees a change within seconds."""
    from garrison.model.batch import Batch
    from garrison.pipeline.components import IntelReloader
    from garrison.store import indicators

    stage = IntelReloader([str(tmp_path / indicators.FILE)], every=0)
    ev = {"@timestamp": 1, "url.domain": "login.paypa1-secure.example", "url.original": "http://login.paypa1-secure.example/x"}
    b = Batch([dict(ev)], [])
    stage(b)
    assert b.detections == []  # no list yet: nothing, and no error
    assert indicators.append(tmp_path, [("domain", "paypa1-secure.example"), ("domain", "paypa1-secure.example")], "test") == 1
    assert indicators.append(tmp_path, [("domain", "paypa1-secure.example")], "test") == 0  # listed once
    b = Batch([dict(ev)], [])
    stage(b)
    assert [d.rule_id for d in b.detections] == ["garrison.intel.domain"]
