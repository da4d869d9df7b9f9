"""Public feeds subscribed to: a MISP feed, a TAXII collection and a plain list, over HTTP, each kept as one list
with the subscription's expiry and trust; a low-trust feed's match is a low-severity detection."""

from __future__ import annotations

import functools
import http.server
import json
import threading

from garrison.cluster.feeds import refresh
from garrison.config import load_config
from garrison.detect.detectors.intel import IntelStage
from garrison.detect.intel import load_intel
from garrison.model.batch import Batch
from tests.cluster.test_share import _pymisp_feed


def test_three_kinds_of_feed(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _pymisp_feed(site / "misp")
    (site / "list.txt").write_text("# bad hosts\n192.0.2.200\nevil-updates.example\n")
    (site / "taxii" / "objects").mkdir(parents=True)
    (site / "taxii" / "objects" / "index.html").write_text(json.dumps({"more": False, "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--3f0a2c4e-1b2d-4c5e-8f9a-0b1c2d3e4f50",
         "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z", "pattern_type": "stix",
         "pattern": "[domain-name:value = 'cdn-login.example']", "valid_from": "2026-12-01T00:00:00Z"}]}))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    cfg = load_config(None, data_dir=str(tmp_path / "d"))
    try:
        assert refresh(cfg, {"name": "hospital", "url": f"{base}/misp", "kind": "misp", "trust": "high", "expire_days": 3}) == 2
        assert refresh(cfg, {"name": "abuse-list", "url": f"{base}/list.txt", "kind": "list", "trust": "low"}) == 2
        assert refresh(cfg, {"name": "isac", "url": f"{base}/taxii", "kind": "taxii", "trust": "medium"}) == 1
    finally:
        srv.shutdown()
    idx = load_intel([tmp_path / "d" / "intel" / "feeds"])
    assert not idx.errors
    assert idx.ip("192.0.2.55").trust == "high" and idx.ip("192.0.2.200").trust == "low"
    assert idx.domain("cdn-login.example").trust == "medium" and idx.ip("192.0.2.55").expires is not None
    b = Batch([{"@timestamp": 1, "source.ip": "192.0.2.200"}, {"@timestamp": 1, "source.ip": "192.0.2.55"}], [])
    IntelStage(idx)(b)
    assert [d.level for d in b.detections] == ["low", "high"]
