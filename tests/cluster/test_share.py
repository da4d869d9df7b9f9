"""Issue 22's interoperability, checked with the other side's own tools: a STIX 2.1 bundle that stix2-validator
passes with no errors and Garrison's intel loader reads back; a MISP feed that PyMISP's event objects load; a feed
produced by PyMISP imported (from a folder and over HTTP) and matched by the intel stage."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time

import pymisp
import stix2
from stix2validator import ValidationOptions, validate_string

from garrison.cluster.share import collect, import_misp_feed, misp_feed, stix_bundle
from garrison.config import load_config
from garrison.detect.intel import load_intel
from garrison.model.decision import Decision
from garrison.respond.decisions import add_decision
from garrison.store import indicators, open_state


def _world(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path / "data"), awareness={"organisation": "Northshire Council"})
    engine = open_state(cfg.data_path)
    now = int(time.time() * 1e6)
    for scope, value in (("ip", "203.0.113.9"), ("range", "198.51.100.0/24"), ("email", "billing@paypa1-secure.example"),
                         ("domain", "paypa1-secure.example"), ("ip", "2001:db8::7")):
        add_decision(engine, Decision(type="ban", scope=scope, value=value, origin="rule", reason="ssh brute force on alice",
                                      created_at=now - 3600_000_000, until=now + 86400_000_000), "test")
    indicators.append(cfg.data_dir, [("url", "http://paypa1-secure.example/login"), ("hash", "a" * 64)], "reported phish <x@y>")
    return cfg, engine


def test_stix_bundle_is_valid_and_reads_back(tmp_path):
    cfg, engine = _world(tmp_path)
    items = collect(engine, cfg)
    assert {(i.type, i.value) for i in items} >= {("ip", "203.0.113.9"), ("cidr", "198.51.100.0/24"), ("email", "billing@paypa1-secure.example"),
                                                 ("url", "http://paypa1-secure.example/login"), ("hash", "a" * 64)}
    text = stix_bundle(items, "Northshire Council", "green")
    result = validate_string(text, ValidationOptions(strict=False))
    assert result.is_valid and not result.errors, result.as_dict()
    bundle = stix2.parse(text, allow_custom=False)
    assert sum(1 for o in bundle.objects if o.type == "indicator") == len(items)
    assert sum(1 for o in bundle.objects if o.type == "sighting") == 5  # what attacked us: addresses, range, sender, domain
    assert "alice" not in text  # internal user names never leave (the ban's reason named one)
    marking = next(o for o in bundle.objects if o.type == "marking-definition")
    assert marking.id == "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb" and marking.name == "TLP:GREEN"  # TLP 2.0
    (tmp_path / "b.json").write_text(text)
    idx = load_intel([tmp_path / "b.json"])
    assert idx.ip("203.0.113.9") and idx.ip("198.51.100.77") and idx.domain("paypa1-secure.example")


def test_sharing_policy(tmp_path):
    cfg, engine = _world(tmp_path)
    from dataclasses import replace

    only_bans = replace(cfg, cluster=replace(cfg.cluster, share=["bans"]))
    assert {i.type for i in collect(engine, only_bans)} == {"ip", "cidr"}
    assert collect(engine, replace(cfg, cluster=replace(cfg.cluster, share=[]))) == []


def test_misp_feed_loads_in_pymisp(tmp_path):
    cfg, engine = _world(tmp_path)
    eid = misp_feed(collect(engine, cfg), "Northshire Council", tmp_path / "feed", "amber")
    manifest = json.loads((tmp_path / "feed" / "manifest.json").read_text())
    assert list(manifest) == [eid]
    ev = pymisp.MISPEvent()
    ev.load_file(str(tmp_path / "feed" / f"{eid}.json"))
    values = {a.value for a in ev.attributes}
    assert {"203.0.113.9", "paypa1-secure.example", "http://paypa1-secure.example/login"} <= values
    assert [t.name for t in ev.tags] == ["tlp:amber"] and ev.Orgc.name == "Northshire Council"
    assert len((tmp_path / "feed" / "hashes.csv").read_text().splitlines()) == len(ev.attributes)


def _pymisp_feed(folder):
    ev = pymisp.MISPEvent()
    ev.info = "Hospital trust: password guessing"
    ev.Orgc = pymisp.MISPOrganisation()
    ev.Orgc.from_dict(name="Hospital", uuid="5a1e7c58-0000-4000-8000-000000000001")
    ev.add_attribute("ip-src", "192.0.2.55", to_ids=True)
    ev.add_attribute("domain", "login-hospital-nhs.example", to_ids=True)
    ev.add_tag("tlp:green")
    folder.mkdir()
    (folder / f"{ev.uuid}.json").write_text(json.dumps(ev.to_feed()))
    (folder / "manifest.json").write_text(json.dumps(ev.manifest))
    return ev


def test_a_pymisp_feed_is_imported_from_a_folder_and_over_http(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path / "data"))
    ev = _pymisp_feed(tmp_path / "hospital")
    assert import_misp_feed(cfg, str(tmp_path / "hospital"), "hospital") == {"events": 1, "unchanged": 0}
    assert import_misp_feed(cfg, str(tmp_path / "hospital"), "hospital") == {"events": 0, "unchanged": 1}
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "hospital"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        got = import_misp_feed(cfg, f"http://127.0.0.1:{srv.server_address[1]}", "hospital-http")
    finally:
        srv.shutdown()
    assert got == {"events": 1, "unchanged": 0}
    idx = load_intel([tmp_path / "data" / "intel" / "feeds"])
    assert idx.ip("192.0.2.55") and idx.domain("login-hospital-nhs.example") and not idx.errors
    assert (tmp_path / "data" / "intel" / "feeds" / "hospital" / f"{ev.uuid}.json").exists()


def test_cli_json(tmp_path):
    import os
    import subprocess
    import sys

    cfg, _ = _world(tmp_path)
    base = [sys.executable, "-m", "garrison", "--data-dir", cfg.data_dir, "share"]
    r = subprocess.run(base + ["export", "--format", "stix", "--out", str(tmp_path / "b.json"), "--json"], capture_output=True, text=True,
                       env=os.environ, check=True)
    assert json.loads(r.stdout)["indicators"] == 7
    r = subprocess.run(base + ["export", "--format", "misp", "--out", str(tmp_path / "feed"), "--json"], capture_output=True, text=True,
                       env=os.environ, check=True)
    assert json.loads(r.stdout)["format"] == "misp"
    r = subprocess.run(base + ["import", str(tmp_path / "feed"), "--name", "self", "--json"], capture_output=True, text=True,
                       env=os.environ, check=True)
    assert json.loads(r.stdout) == {"feed": "self", "events": 1, "unchanged": 0}
    r = subprocess.run(base + ["import", str(tmp_path / "nowhere"), "--name", "x"], capture_output=True, text=True, env=os.environ)
    assert r.returncode == 1 and "manifest.json" in r.stderr
