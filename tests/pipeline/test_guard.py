"""Poison isolation: a record a parser, enricher or stage raises on is quarantined; the rest goes on."""

from __future__ import annotations

import json

import pytest

from garrison.config import load_config
from garrison.model import RawRecord
from garrison.model.bounds import Bounds, OutOfBounds, check_event
from garrison.model.detection import Detection
from garrison.pipeline import build_pipeline

BIG = "9" * 30
HOSTILE = {  # each crashed the processor for good before (issue 15)
    "a port past 64 bits": f"<134>Nov 28 10:00:00 fw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00 SRC=203.0.113.9 "
                           f"DST=10.0.0.1 LEN=40 PROTO=TCP SPT={BIG} DPT=22 WINDOW=1024 SYN",
    "a time of 1e300": '{"ts": 1e300, "uid": "C1", "id.orig_h": "203.0.113.9", "id.orig_p": 1, "id.resp_h": '
                       '"10.0.0.1", "id.resp_p": 22, "proto": "tcp"}',
    "an EventID past 64 bits": json.dumps({"winlog": {"event_id": int(BIG), "channel": "Security"},
                                           "@timestamp": "2026-11-28T10:00:00Z"}),
    "an HTTP status past 64 bits": f'203.0.113.9 - - [28/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" {BIG} 1 "-" "x"',
    "an address as a list": json.dumps({"timestamp": "2026-11-28T10:00:00.000000+0000", "event_type": "alert",
                                        "src_ip": ["203.0.113.9"], "src_port": 1, "dest_ip": "10.0.0.1",
                                        "dest_port": 22, "proto": "TCP", "alert": {"signature": "x", "severity": 1}}),
    "JSON nested 1000 deep": '{"a":' * 1000 + "1" + "}" * 1000,
    "a year-9999 sign-in": json.dumps({"createdDateTime": "9999-12-31T23:59:59Z", "userPrincipalName": "a@b",
                                       "ipAddress": "203.0.113.9", "status": {"errorCode": 50126}, "id": "1"}),
}
ORDINARY = "Nov 28 10:00:01 web1 sshd[42]: Failed password for root from 203.0.113.7 port 4242 ssh2"


@pytest.fixture
def pipeline(tmp_path):
    return build_pipeline(load_config(None, data_dir=str(tmp_path)))


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_class_is_quarantined_and_the_next_record_goes_on(pipeline, name):
    b = pipeline.process([RawRecord(text=HOSTILE[name], source="udp", position=1),
                          RawRecord(text=ORDINARY, source="udp", position=2)])
    assert [e["log.file.line"] for e in b.events] == [2]
    (r,) = b.rejects
    assert r.position == 1 and r.reason and r.raw.startswith(HOSTILE[name][:20])


def test_a_stage_that_raises_on_one_event_loses_only_that_event(pipeline):
    def fragile(batch):
        for ev in batch.events:
            if "poison" in ev.get("event.original", ""):
                raise ZeroDivisionError("boom")
            batch.detections.append(Detection("r1", "seen", "low", [], ev["@timestamp"], ev))

    fragile.name = "fragile"
    pipeline.stages.append(fragile)
    lines = [ORDINARY.replace("root", f"user{i}") for i in range(5)]
    lines[2] = ORDINARY.replace("root", "poison")
    b = pipeline.process([RawRecord(text=t, source="s", position=i) for i, t in enumerate(lines, 1)])
    assert [e["log.file.line"] for e in b.events] == [1, 2, 4, 5]
    assert len(b.detections) == 4 and all("poison" not in d.event["event.original"] for d in b.detections)
    (r,) = b.rejects
    assert r.position == 3 and "stage fragile failed on this event: ZeroDivisionError: boom" in r.reason
    assert pipeline.failures.batches == {"fragile": 1} and pipeline.failures.events == {"fragile": 1}


def test_an_enricher_that_raises_quarantines_the_event(pipeline, monkeypatch):
    from garrison.enrich import GeoLookup

    real = GeoLookup.enrich

    def bad(self, ev):
        if ev.get("source.ip") == "203.0.113.66":
            raise KeyError("geo")
        real(self, ev)

    monkeypatch.setattr(GeoLookup, "enrich", bad)
    b = pipeline.process([RawRecord(text=ORDINARY, source="s", position=1),
                          RawRecord(text=ORDINARY.replace(".7 ", ".66 "), source="s", position=2)])
    assert len(b.events) == 1 and "stage geo failed on this event: KeyError" in b.rejects[0].reason


@pytest.mark.parametrize("ev, reason", [
    ({"@timestamp": 10**25}, "outside the years"),
    ({"@timestamp": -5}, "outside the years"),
    ({"@timestamp": "yesterday"}, "expected a time"),
    ({"source.port": 70000}, "outside 0..65535"),
    ({"winlog.event_id": [4625]}, "expected an integer"),
    ({"source.ip": {"a": 1}}, "expected text"),
    ({"x": {"y": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}, "nested deeper"),
    ({"x": [2**64]}, "64 bits"),
])
def test_bounds(ev, reason):
    with pytest.raises(OutOfBounds, match=reason):
        check_event(dict(ev), Bounds())


def test_bounds_coerce_the_harmless_and_follow_configuration():
    ev = {"@timestamp": 1_700_000_000_000_000, "source.port": "443", "user.name": 7, "event.category": ["web"]}
    check_event(ev, Bounds())
    assert ev["source.port"] == 443 and ev["user.name"] == "7" and ev["event.category"] == "web"
    with pytest.raises(OutOfBounds):
        check_event({"@timestamp": 1_700_000_000_000_000}, Bounds(min_year=2025))
