"""DNS tunnelling indicators and user enumeration from Garrison's pack: fire on a built tunnel and an
enumeration burst, stay quiet on a real network's DNS (``../shared/data/zeek/dns.json.gz``, WRCCDC 2018)."""

from __future__ import annotations

import base64
import gzip
import random

import orjson

from garrison.config import load_config
from garrison.detect.sigma.stage import build_sigma_stage
from garrison.model import RawRecord
from garrison.parse.network import registered_domain
from garrison.pipeline import build_pipeline
from garrison.store import open_state


def _detect(tmp_path, lines, fmt):
    cfg = load_config(None, data_dir=str(tmp_path), enrich={"geoip": False})
    sigma = build_sigma_stage(cfg, open_state(tmp_path))
    pipe = build_pipeline(cfg, [sigma])
    b = pipe.process([RawRecord(text=x, source="t", position=i, format=fmt) for i, x in enumerate(lines, 1)])
    return b.detections + sigma.engine.flush()


def test_registered_domain():
    assert registered_domain("a.b.example.com") == "example.com"
    assert registered_domain("www.exeshire.gov.uk.") == "exeshire.gov.uk"
    assert registered_domain("localhost") is None


def test_dns_tunnel_is_found(tmp_path):
    rng = random.Random(1)
    lines = []
    for i in range(260):
        chunk = base64.b32encode(rng.randbytes(37)).decode().rstrip("=").lower()
        lines.append(orjson.dumps({"_path": "dns", "ts": 1_700_000_000 + i, "uid": f"C{i}", "id.orig_h": "10.1.2.3",
                                   "id.orig_p": 5353, "id.resp_h": "10.0.0.10", "id.resp_p": 53, "proto": "udp",
                                   "query": f"{chunk}.t.tunnel.example", "qtype_name": "TXT"}).decode())
    rules = {d.rule_title for d in _detect(tmp_path, lines, "zeek")}
    assert "DNS tunnelling indicators - many unique names under one domain" in rules
    assert "DNS query with a very long label" in rules


def test_real_dns_stays_quiet(tmp_path, data):
    lines = gzip.open(data / "zeek/dns.json.gz", "rt").read().splitlines()
    noisy = [d for d in _detect(tmp_path, lines, "zeek") if d.rule_id.startswith("9c1e7a52") and d.level != "informational"]
    assert len(lines) > 50_000 and noisy == []


def test_user_enumeration(tmp_path):
    lines = [f"Feb 12 14:10:{i:02d} bastion sshd[{100 + i}]: Invalid user u{i} from 203.0.113.7 port {40000 + i}"
             for i in range(12)]
    (d,) = [d for d in _detect(tmp_path, lines, "syslog") if d.rule_title.startswith("User enumeration")]
    assert d.event["source.ip"] == "203.0.113.7" and d.level == "medium"


def _conn(t_s, src="10.1.2.3", dst="198.51.100.20", port=443):
    return {"@timestamp": int(t_s * 1e6), "event.category": "network", "source.ip": src, "destination.ip": dst,
            "destination.port": port, "garrison.source.zone": "internal", "garrison.destination.zone": "external"}


def test_beaconing():
    from garrison.detect.detectors.beacon import BeaconStage
    from garrison.model.batch import Batch

    rng = random.Random(3)
    beacon = [_conn(1000 + 60 * i + rng.uniform(-1.5, 1.5)) for i in range(30)]
    browsing = [_conn(t, dst="203.0.113.9") for t in sorted(rng.uniform(0, 1800) for _ in range(30))]
    ntp = [_conn(1000 + 64 * i, dst="192.0.2.123", port=123) for i in range(30)]
    b = Batch(beacon + browsing + ntp, [])
    BeaconStage()(b)
    (d,) = b.detections  # reported once per pair, not again for six hours
    assert d.event["destination.ip"] == "198.51.100.20" and 58 <= d.extra["interval_s"] <= 62


def test_beaconing_on_a_real_network(data, tmp_path):
    """The WRCCDC capture's TLS sessions (Zeek ssl.log), from an estate whose own ranges are the private ones."""
    from garrison.detect.detectors.beacon import BeaconStage

    inv = tmp_path / "inv.yaml"
    inv.write_text("own_ranges: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n")
    cfg = load_config(None, data_dir=str(tmp_path), enrich={"geoip": False, "inventory": str(inv)})
    pipe = build_pipeline(cfg, [])
    lines = gzip.open(data / "zeek/ssl.json.gz", "rt").read().splitlines()
    b = pipe.process([RawRecord(text=x, source="ssl", position=i, format="zeek") for i, x in enumerate(lines, 1)])
    stage = BeaconStage()
    stage(b)
    pairs = {(d.event["source.ip"], d.event["destination.ip"], d.event["destination.port"]) for d in b.detections}
    outbound = {(e["source.ip"], e.get("destination.ip"), e.get("destination.port")) for e in b.events
                if e.get("garrison.source.zone") == "internal" and e.get("garrison.destination.zone") == "external"}
    # A handful of timer-driven pairs at most, among thousands of outbound pairs.
    assert len(outbound) > 1000 and len(pairs) <= 0.01 * len(outbound), sorted(pairs)[:20]
